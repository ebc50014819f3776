/**
 * Volatile write cache, power events and injected faults at the store level (no FUSE).
 */
import * as fs from 'node:fs';
import { describe, it, expect } from 'vitest';
import { MiB, ZoneState, Status } from '../../src/engine/index.js';
import { createNamespace } from '../../src/store/store.js';
import { StoredNamespace } from '../../src/store/stored-namespace.js';
import { tmpDir } from '../helpers/tmp.js';
import { checkStore } from '../../src/store/check.js';

const GEO = { capacity: 16 * MiB, zoneSize: 1 * MiB, lbaSize: 4096, convZones: 1, maxOpen: 3, maxActive: 3 };
const L = 4096;

function fresh(geo = GEO, volatileCache = true): { dir: string; ns: StoredNamespace } {
  const dir = tmpDir();
  createNamespace(dir, geo, { name: 'nvme0n1', volatileCache });
  return { dir, ns: StoredNamespace.open(dir, 'nvme0n1') };
}

function blk(byte: number, n = 1): Buffer {
  return Buffer.alloc(n * L, byte);
}

function readLbas(ns: StoredNamespace, lba: number, n: number): Buffer {
  const b = Buffer.alloc(n * L, 0xee);
  const r = ns.read(lba * L, b, 0, b.length);
  expect(typeof r).toBe('number');
  return b;
}

describe('volatile write cache', () => {
  it('power loss keeps what was flushed and discards the rest (zeros, write pointer rolled back)', () => {
    const { ns } = fresh();
    const zl = ns.engine.zoneLbas;
    expect(ns.write(zl, blk(1, 4), 0, 4 * L)).toBeUndefined();
    ns.flush();
    expect(ns.write(zl + 4, blk(2, 4), 0, 4 * L)).toBeUndefined();
    expect(ns.write(2 * zl, blk(3, 2), 0, 2 * L)).toBeUndefined();
    // A conventional overwrite after the flush is undone from its pre-image.
    expect(ns.writeRandom(0, blk(9), 0, L)).toBeUndefined();
    ns.flush();
    expect(ns.writeRandom(0, blk(8), 0, L)).toBeUndefined();
    expect(ns.write(2 * zl + 2, blk(4), 0, L)).toBeUndefined();
    const allocated = ns.allocatedBytes();
    ns.powerCycle('power-loss');
    expect(ns.engine.wpOf(1)).toBe(zl + 8); // flushed at the second flush
    expect(ns.engine.wpOf(2)).toBe(2 * zl + 2);
    expect(ns.engine.stateOf(1)).toBe(ZoneState.CLOSED);
    expect(readLbas(ns, 2 * zl, 3).subarray(2 * L).every((b) => b === 0)).toBe(true);
    expect(readLbas(ns, 0, 1).every((b) => b === 9)).toBe(true);
    expect(ns.allocatedBytes()).toBeLessThan(allocated);
    ns.close();
  });

  it('zone management is durable and makes the zone’s cached writes durable', () => {
    const { ns } = fresh();
    const zl = ns.engine.zoneLbas;
    ns.write(zl, blk(1, 3), 0, 3 * L);
    expect(ns.manage('finish', 1)).toBeUndefined();
    ns.write(2 * zl, blk(2, 3), 0, 3 * L);
    ns.powerCycle('power-loss');
    expect(ns.engine.stateOf(1)).toBe(ZoneState.FULL);
    expect(readLbas(ns, zl, 3).every((b) => b === 1)).toBe(true);
    expect(ns.engine.stateOf(2)).toBe(ZoneState.EMPTY);
    ns.close();
  });

  it('an accepted zone management command that changes no state still makes the zone’s cached writes durable', () => {
    // Open of an explicitly opened zone and finish of a Full zone are accepted and change no
    // state; they are still zone management commands, durable with what the zone holds.
    const { ns } = fresh();
    const zl = ns.engine.zoneLbas;
    expect(ns.manage('open', 1)).toBeUndefined();
    ns.write(zl, blk(1, 3), 0, 3 * L);
    expect(ns.manage('open', 1)).toBeUndefined();
    ns.write(2 * zl, blk(2, zl), 0, zl * L); // fills zone 2 (cached)
    expect(ns.engine.stateOf(2)).toBe(ZoneState.FULL);
    expect(ns.manage('finish', 2)).toBeUndefined();
    ns.powerCycle('power-loss');
    expect(ns.engine.wpOf(1)).toBe(zl + 3);
    expect(readLbas(ns, zl, 3).every((b) => b === 1)).toBe(true);
    expect(ns.engine.stateOf(2)).toBe(ZoneState.FULL);
    expect(readLbas(ns, 2 * zl, zl).every((b) => b === 2)).toBe(true);
    ns.close();
  });

  it('a zone filled by lost writes comes back Closed, and the controller finishes zones beyond the active limit (ZFC)', () => {
    const { ns } = fresh({ ...GEO, maxOpen: 2, maxActive: 2 });
    const zl = ns.engine.zoneLbas;
    ns.write(zl, blk(1), 0, L);
    ns.flush();
    ns.write(zl + 1, blk(1, zl - 1), 0, (zl - 1) * L); // fills zone 1: Full, no resource (lost below)
    expect(ns.engine.stateOf(1)).toBe(ZoneState.FULL);
    ns.write(2 * zl, blk(2), 0, L);
    ns.manage('close', 2); // durable
    ns.write(3 * zl, blk(3), 0, L);
    ns.manage('close', 3); // durable: zones 2 and 3 hold both active resources
    ns.powerCycle('power-loss');
    expect(ns.engine.stateOf(1)).toBe(ZoneState.CLOSED);
    expect(ns.engine.wpOf(1)).toBe(zl + 1);
    expect(ns.engine.stateOf(2)).toBe(ZoneState.CLOSED);
    expect(ns.engine.stateOf(3)).toBe(ZoneState.FULL);
    expect(ns.engine.attrsOf(3) & 0x01).toBe(0x01); // Zone Finished by Controller
    expect(ns.engine.counts().active).toBe(2);
    ns.close();
  });

  it('host-aware zones: an overwrite of flushed LBAs is undone by a power loss', () => {
    const { ns } = fresh({ ...GEO, zoneModel: 'host-aware' });
    const zl = ns.engine.zoneLbas;
    expect(ns.write(zl, blk(1, 4), 0, 4 * L)).toBeUndefined();
    ns.flush();
    expect(ns.write(zl + 1, blk(2, 2), 0, 2 * L)).toBeUndefined(); // below the write pointer
    expect(readLbas(ns, zl + 1, 1).every((b) => b === 2)).toBe(true);
    ns.powerCycle('power-loss');
    expect(readLbas(ns, zl, 4).every((b) => b === 1)).toBe(true);
    ns.close();
  });

  it('a daemon that dies with the cache on is a power loss at the next start', () => {
    const { dir, ns } = fresh();
    const zl = ns.engine.zoneLbas;
    ns.write(zl, blk(1, 2), 0, 2 * L);
    ns.flush();
    ns.write(zl + 2, blk(2, 2), 0, 2 * L);
    ns.close(false); // crash
    const again = StoredNamespace.open(dir, 'nvme0n1');
    expect(again.engine.wpOf(1)).toBe(zl + 2);
    expect(again.engine.stateOf(1)).toBe(ZoneState.CLOSED);
    again.close();
  });

  it('with the cache off, nothing acknowledged is lost by a power cycle', () => {
    const { ns } = fresh(GEO, false);
    const zl = ns.engine.zoneLbas;
    ns.write(zl, blk(1, 2), 0, 2 * L);
    ns.powerCycle('power-loss');
    expect(ns.engine.wpOf(1)).toBe(zl + 2);
    expect(ns.engine.stateOf(1)).toBe(ZoneState.CLOSED);
    ns.close();
  });

  it('turning the cache off flushes, and the setting persists', () => {
    const { dir, ns } = fresh(GEO, false);
    ns.setVolatileCache(true);
    const zl = ns.engine.zoneLbas;
    ns.write(zl, blk(1, 2), 0, 2 * L);
    ns.close();
    const a = StoredNamespace.open(dir, 'nvme0n1');
    expect(a.volatileCache).toBe(true);
    expect(a.engine.wpOf(1)).toBe(zl + 2); // a clean close flushes
    a.write(zl + 2, blk(2), 0, L);
    a.setVolatileCache(false);
    a.powerCycle('power-loss');
    expect(a.engine.wpOf(1)).toBe(zl + 3);
    a.close();
  });
});

describe('injected faults', () => {
  it('bad read and write ranges fail exactly where set, and persist', () => {
    const { dir, ns } = fresh(GEO, false);
    const zl = ns.engine.zoneLbas;
    ns.addBadRange({ start: zl + 2, count: 2, read: false, write: true, once: false, partial: false });
    ns.addBadRange({ start: 5, count: 1, read: true, write: false, once: false, partial: false });
    expect(ns.write(zl, blk(1, 2), 0, 2 * L)).toBeUndefined();
    const r = ns.write(zl + 2, blk(1, 2), 0, 2 * L);
    expect(r?.status).toBe(Status.WRITE_FAULT);
    expect(ns.engine.wpOf(1)).toBe(zl + 2);
    const b = Buffer.alloc(L);
    expect(ns.read(4 * L, b, 0, L)).toBe(L);
    expect((ns.read(5 * L, b, 0, L) as { status: unknown }).status).toBe(Status.UNRECOVERED_READ_ERROR);
    ns.close();
    const again = StoredNamespace.open(dir, 'nvme0n1');
    expect(again.listFaults()).toEqual([`fault write ${zl + 2} 2`, 'fault read 5 1']);
    expect(again.write(zl + 2, blk(1), 0, L)?.status).toBe(Status.WRITE_FAULT);
    again.close();
  });

  it('once heals after one failure; partial leaves a torn write', () => {
    const { ns } = fresh(GEO, false);
    const zl = ns.engine.zoneLbas;
    ns.addBadRange({ start: zl + 1, count: 1, read: true, write: true, once: true, partial: false });
    expect(ns.write(zl, blk(1, 2), 0, 2 * L)?.status).toBe(Status.WRITE_FAULT);
    expect(ns.engine.wpOf(1)).toBe(zl);
    expect(ns.write(zl, blk(1, 2), 0, 2 * L)).toBeUndefined();
    expect(ns.listFaults()).toEqual([]);
    ns.addBadRange({ start: 2 * zl + 5, count: 3, read: false, write: true, once: false, partial: true });
    const r = ns.write(2 * zl, blk(7, 8), 0, 8 * L);
    expect(r?.status).toBe(Status.WRITE_FAULT);
    expect(r?.detail).toMatch(/torn write, 5 of 8 LBAs written/);
    expect(ns.engine.wpOf(2)).toBe(2 * zl + 5);
    expect(readLbas(ns, 2 * zl, 5).every((x) => x === 7)).toBe(true);
    ns.close();
  });

  it('the seeded random mode fails the same writes twice from the same seed', () => {
    const run = (): number[] => {
      const { ns } = fresh({ ...GEO, maxOpen: 0, maxActive: 0 }, false);
      ns.setRandomFaults({ seed: 1234, writeOneIn: 4, readOneIn: 0 });
      const failed: number[] = [];
      for (let i = 0; i < 60; i++) {
        const z = 1 + (i % 5);
        const r = ns.write(ns.engine.wpOf(z), blk(i), 0, L);
        if (r) {
          expect(r.status).toBe(Status.WRITE_FAULT);
          failed.push(i);
        }
      }
      ns.close();
      return failed;
    };
    const a = run();
    const b = run();
    expect(a.length).toBeGreaterThan(5);
    expect(a.length).toBeLessThan(30);
    expect(b).toEqual(a);
  });

  it('recommendations and read-only/offline zones are listed and cleared with one command', () => {
    const { ns } = fresh(GEO, false);
    expect(ns.setRecommendation(3, 'reset', true)).toBeUndefined();
    expect(ns.setRecommendation(4, 'finish', true)).toBeUndefined();
    expect(ns.injectFault('readonly', 5)).toBeUndefined();
    expect(ns.injectFault('offline', 6)).toBeUndefined();
    ns.setRandomFaults({ seed: 1, writeOneIn: 10, readOneIn: 0 });
    expect(ns.listFaults()).toEqual(['fault random 1 10 0', 'recommend reset 3', 'recommend finish 4', 'readonly 5', 'offline 6']);
    expect(ns.clearFaults()).toBe(5);
    expect(ns.listFaults()).toEqual([]);
    expect(ns.engine.stateOf(5)).toBe(ZoneState.EMPTY);
    expect(ns.engine.stateOf(6)).toBe(ZoneState.EMPTY);
    ns.close();
  });

  it('check reports a corrupt fault block and --repair rewrites it empty', () => {
    const { dir, ns } = fresh(GEO, false);
    ns.addBadRange({ start: 10, count: 1, read: true, write: false, once: false, partial: false });
    const off = ns.info.faultsOffset;
    ns.close();
    const fd = fs.openSync(`${dir}/nvme0n1.zmeta`, 'r+');
    fs.writeSync(fd, Buffer.from([0x42]), 0, 1, off + 40);
    fs.closeSync(fd);
    let r = checkStore(dir);
    expect(r.errors).toBe(1);
    expect(r.findings[0]!.message).toMatch(/faults checksum: mismatch.*\(repair clears the injected faults\)/);
    r = checkStore(dir, { repair: true });
    expect(r.findings.map((f) => f.level)).toEqual(['repaired']);
    expect(checkStore(dir).errors).toBe(0);
    const again = StoredNamespace.open(dir, 'nvme0n1');
    expect(again.listFaults()).toEqual([]);
    again.close();
  });

  it('refuses a corrupt fault block naming it', () => {
    const { dir, ns } = fresh(GEO, false);
    const off = ns.info.faultsOffset;
    ns.close();
    const fd = fs.openSync(`${dir}/nvme0n1.zmeta`, 'r+');
    fs.writeSync(fd, Buffer.from([0x42]), 0, 1, off + 9);
    fs.closeSync(fd);
    expect(() => StoredNamespace.open(dir, 'nvme0n1')).toThrow(/faults checksum: mismatch/);
  });
});
