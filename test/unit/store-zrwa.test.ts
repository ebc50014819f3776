/**
 * ZRWA, device timers and events at the store level (no FUSE): what persists in the sidecar
 * (window data and extents, the ZRWAV attribute, limits, the device clock, timer start times),
 * the events log, and the power-loss rule for unflushed ZRWA data with the volatile cache on.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it, expect } from 'vitest';
import { MiB, ZoneAttr, ZoneState, Status, isRejection } from '../../src/engine/index.js';
import { createNamespace } from '../../src/store/store.js';
import { StoredNamespace } from '../../src/store/stored-namespace.js';
import { FormatError, Incompat, Off, crc32Range } from '../../src/store/format.js';
import { parseEvent } from '../../src/format/events.js';
import { tmpDir } from '../helpers/tmp.js';
import { LOSS_ALL, parseLossPolicy } from '../../src/engine/loss-policy.js';

const L = 4096;
/** 16 zones of 1 MiB (256 LBAs), zone 0 conventional, ZRWA 64 KiB (16 LBAs) flushed by 16 KiB. */
const GEO = {
  capacity: 16 * MiB, zoneSize: MiB, lbaSize: L, convZones: 1, maxOpen: 4, maxActive: 4,
  zrwas: 16 * L, zrwafg: 4 * L, numzrwa: 2,
};
const ZL = 256;

function fresh(geo: object = GEO, volatileCache = false): { dir: string; ns: StoredNamespace } {
  const dir = tmpDir();
  createNamespace(dir, geo, { name: 'nvme0n1', volatileCache });
  return { dir, ns: StoredNamespace.open(dir, 'nvme0n1') };
}

const blk = (byte: number, n = 1): Buffer => Buffer.alloc(n * L, byte);

function ok(r: unknown): void {
  if (isRejection(r)) throw new Error(`unexpected rejection: ${r.detail}`);
}

function lbaBytes(ns: StoredNamespace, lba: number, n = 1): number[] {
  const b = Buffer.alloc(n * L, 0xee);
  expect(ns.read(lba * L, b, 0, b.length)).toBe(b.length);
  return Array.from({ length: n }, (_, i) => b[i * L]!);
}

describe('ZRWA in the store', () => {
  it('window data, overwrites and the ZRWA survive a clean close and a process that dies', () => {
    const { dir, ns } = fresh();
    ok(ns.manage('open', 1, { zrwa: true }));
    ok(ns.write(ZL + 2, blk(0xa1, 3), 0, 3 * L));
    ok(ns.write(ZL + 3, blk(0xb2), 0, L)); // overwrite inside the window
    ok(ns.write(ZL + 18, blk(0xc3), 0, L)); // past the window: implicit flush of 4
    expect(ns.engine.wpOf(1)).toBe(ZL + 4);
    ns.close();
    let again = StoredNamespace.open(dir, 'nvme0n1');
    expect(again.engine.stateOf(1)).toBe(ZoneState.CLOSED);
    expect(again.engine.attrsOf(1) & ZoneAttr.ZRWAV).toBe(ZoneAttr.ZRWAV);
    expect(again.engine.wpOf(1)).toBe(ZL + 4);
    expect(lbaBytes(again, ZL, 20)).toEqual([0, 0, 0xa1, 0xb2, 0xa1, ...Array(13).fill(0), 0xc3, 0]);
    ok(again.write(ZL + 5, blk(0xd4), 0, L));
    again.close(false); // as if killed
    again = StoredNamespace.open(dir, 'nvme0n1');
    expect(again.recoveredFromUncleanShutdown).toBe(true);
    expect(lbaBytes(again, ZL + 4, 3)).toEqual([0xa1, 0xd4, 0]);
    expect(again.engine.zrwaInUse).toBe(1);
    const appended = again.append(1, blk(1), 0, L);
    expect(isRejection(appended) && appended.status).toBe(Status.INVALID_ZONE_OP);
    again.close();
  });

  it('a store with a ZRWA sets the ZRWA incompat bit; one without does not', () => {
    const { dir, ns } = fresh();
    ns.close();
    expect(StoredNamespace.peekHeader(dir, 'nvme0n1').geometry.zrwas).toBe(16 * L);
    const h = fs.readFileSync(path.join(dir, 'nvme0n1.zmeta')).readUInt32LE(Off.incompat);
    expect(h).toBe(Incompat.ZRWA);
    const plain = fresh({ capacity: 16 * MiB, zoneSize: MiB, lbaSize: L });
    plain.ns.close();
    expect(fs.readFileSync(path.join(plain.dir, 'nvme0n1.zmeta')).readUInt32LE(Off.incompat)).toBe(0);
  });

  it('refuses a sidecar whose ZRWA record extent runs past the window', () => {
    const { dir, ns } = fresh();
    ok(ns.manage('open', 1, { zrwa: true }));
    ns.close();
    const file = path.join(dir, 'nvme0n1.zmeta');
    const b = fs.readFileSync(file);
    const rec = 4096 + 64;
    b.writeUInt32LE(17, rec + 4);
    b.writeUInt32LE(crc32Range(b, rec, rec + 60), rec + 60);
    fs.writeFileSync(file, b);
    expect(() => StoredNamespace.open(dir, 'nvme0n1')).toThrow(FormatError);
    expect(() => StoredNamespace.open(dir, 'nvme0n1')).toThrow(/zone 1 zrwa/);
  });
});

describe('ZRWA and a power loss with the volatile cache on', () => {
  it('keeps what the last flush made durable: window writes, overwrites and implicit flushes since are undone', () => {
    const { ns } = fresh(GEO, true);
    ok(ns.manage('open', 1, { zrwa: true })); // zone management: durable at once
    ok(ns.write(ZL, blk(0x11, 4), 0, 4 * L));
    ns.flush();
    ok(ns.write(ZL + 1, blk(0x22), 0, L)); // overwrites a durable window LBA
    ok(ns.write(ZL + 6, blk(0x33), 0, L)); // new window LBA
    ok(ns.write(ZL + 16, blk(0x44), 0, L)); // implicit flush: wp → +4
    expect(ns.engine.wpOf(1)).toBe(ZL + 4);
    ns.powerCycle('power-loss');
    expect(ns.engine.stateOf(1)).toBe(ZoneState.CLOSED);
    expect(ns.engine.wpOf(1)).toBe(ZL);
    expect(ns.engine.zrwaEndOf(1)).toBe(ZL + 4);
    expect(lbaBytes(ns, ZL, 8)).toEqual([0x11, 0x11, 0x11, 0x11, 0, 0, 0, 0]);
    expect(lbaBytes(ns, ZL + 16)).toEqual([0]);
    ns.close();
  });

  it('an explicit ZRWA flush is durable at once, with the window overwrites it commits', () => {
    const { ns } = fresh(GEO, true);
    ok(ns.manage('open', 1, { zrwa: true }));
    ok(ns.write(ZL, blk(0x11, 4), 0, 4 * L));
    ns.flush();
    ok(ns.write(ZL, blk(0x55), 0, L));
    ok(ns.zrwaFlush(1, ZL + 3));
    ok(ns.write(ZL + 4, blk(0x66), 0, L));
    ns.powerCycle('power-loss');
    expect(ns.engine.wpOf(1)).toBe(ZL + 4);
    expect(lbaBytes(ns, ZL, 5)).toEqual([0x55, 0x11, 0x11, 0x11, 0]);
    ns.close();
  });

  it('composes with the loss policies: keep=all keeps the window, prefix keeps it as after some of the writes', () => {
    const { ns } = fresh(GEO, true);
    ok(ns.manage('open', 1, { zrwa: true }));
    ok(ns.write(ZL, blk(0x11, 2), 0, 2 * L));
    ns.flush();
    ok(ns.write(ZL + 2, blk(0x22), 0, L));
    ok(ns.write(ZL + 17, blk(0x33), 0, L)); // implicit flush of 4
    ns.powerCycle('power-loss', LOSS_ALL);
    expect([ns.engine.wpOf(1), ns.engine.zrwaEndOf(1)]).toEqual([ZL + 4, ZL + 18]);
    expect(lbaBytes(ns, ZL + 2)).toEqual([0x22]);
    ns.flush();
    // Two unflushed writes: every prefix (none, one, both) is a state a seed can pick.
    const seen = new Set<string>();
    for (let seed = 0; seed < 40 && seen.size < 3; seed++) {
      const { ns: n } = fresh(GEO, true);
      ok(n.manage('open', 1, { zrwa: true }));
      ok(n.write(ZL + 3, blk(0x44), 0, L));
      ok(n.write(ZL + 18, blk(0x55), 0, L));
      n.powerCycle('power-loss', parseLossPolicy(`prefix:${seed}`));
      const state = `${n.engine.wpOf(1) - ZL}/${n.engine.zrwaEndOf(1) - ZL}/${lbaBytes(n, ZL + 3)[0]}`;
      expect(['0/0/0', '0/4/68', '4/19/68']).toContain(state);
      seen.add(state);
      n.close();
    }
    expect(seen.size).toBe(3);
    ns.close();
  });

  it('an unclean shutdown with the cache on is the same power loss', () => {
    const { dir, ns } = fresh(GEO, true);
    ok(ns.manage('open', 1, { zrwa: true }));
    ok(ns.write(ZL + 2, blk(0x77), 0, L));
    ns.close(false);
    const again = StoredNamespace.open(dir, 'nvme0n1');
    expect(again.engine.attrsOf(1) & ZoneAttr.ZRWAV).toBe(ZoneAttr.ZRWAV);
    expect(lbaBytes(again, ZL + 2)).toEqual([0]);
    expect(again.engine.dataLbas(1)).toBe(0);
    again.close();
  });
});

describe('device timers and events in the store', () => {
  const TIMED = { capacity: 16 * MiB, zoneSize: MiB, lbaSize: L, convZones: 1, rrl: 3600, frl: 600 };

  it('clock +SECONDS expires the limits, appends one line per change, and everything persists', () => {
    const { dir, ns } = fresh(TIMED);
    ok(ns.manage('finish', 2));
    ok(ns.write(3 * ZL, blk(1), 0, L));
    expect(ns.advanceClock(599)).toEqual([]);
    const t0 = ns.deviceTime;
    const first = ns.advanceClock(1);
    expect(first.map((e) => [e.zone, e.reason])).toEqual([[3, 'finish-recommended-limit']]);
    expect(ns.engine.attrsOf(3)).toBe(ZoneAttr.FZR);
    ns.close();
    const again = StoredNamespace.open(dir, 'nvme0n1');
    expect(again.deviceTime).toBeGreaterThanOrEqual(t0);
    expect(again.geometry.rrl).toBe(3600);
    expect(again.advanceClock(3000).map((e) => [e.zone, e.reason])).toEqual([[2, 'reset-recommended-limit']]);
    const ev = again.excursion(4);
    expect(isRejection(ev)).toBe(true);
    ok(again.write(4 * ZL, blk(1), 0, L));
    ok(again.excursion(4));
    const lines = again.events.text().trimEnd().split('\n');
    expect(lines).toHaveLength(3);
    const parsed = lines.map((l) => parseEvent(l)!);
    expect(parsed.map((e) => [e.zone, e.from.state, e.to.state, e.to.attrs])).toEqual([
      [3, 'IMP_OPENED', 'IMP_OPENED', ['FZR']],
      [2, 'FULL', 'FULL', ['RZR']],
      [4, 'IMP_OPENED', 'FULL', ['ZFC']],
    ]);
    expect(lines[0]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z zone 3 IMP_OPENED -> IMP_OPENED\+FZR \(finish recommended limit: active for 600 s\)$/);
    again.close();
    const h = fs.readFileSync(path.join(dir, 'nvme0n1.zmeta')).readUInt32LE(Off.incompat);
    expect(h).toBe(Incompat.DEVICE_TIMERS);
  });

  it('a torn last events line is cut at the next open', () => {
    const { dir, ns } = fresh(TIMED);
    ok(ns.manage('finish', 2));
    ns.advanceClock(4000);
    ns.close();
    const file = path.join(dir, 'nvme0n1.events');
    fs.appendFileSync(file, '2026-01-01T00:00:00.000Z zone 9 FU');
    const again = StoredNamespace.open(dir, 'nvme0n1');
    expect(again.events.text().split('\n').filter(Boolean)).toHaveLength(1);
    again.close();
  });
});
