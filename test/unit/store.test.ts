import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it, expect } from 'vitest';
import { crc32 } from 'node:zlib';
import { MiB, KiB, ZoneState, Status } from '../../src/engine/index.js';
import { Store, createNamespace } from '../../src/store/store.js';
import { StoredNamespace } from '../../src/store/stored-namespace.js';
import { HEADER_SIZE, Off, RECORD_SIZE, RecordCodec } from '../../src/store/format.js';
import { StoreBusyError } from '../../src/store/lock.js';
import { tmpDir } from '../helpers/tmp.js';

const GEO = { capacity: 16 * MiB, zoneSize: 1 * MiB, zoneCapacity: 768 * KiB, lbaSize: 4096, convZones: 1, maxOpen: 3, maxActive: 4 };

function block(byte: number, n = 1, lba = 4096): Buffer {
  return Buffer.alloc(n * lba, byte);
}

function openNs(dir: string, name = 'nvme0n1', opts = {}): StoredNamespace {
  return StoredNamespace.open(dir, name, opts);
}

describe('store create/open', () => {
  it('creates a sparse data file of exactly the capacity and a sidecar', () => {
    const dir = tmpDir();
    createNamespace(dir, GEO, { name: 'nvme0n1' });
    const data = fs.statSync(path.join(dir, 'nvme0n1.data'));
    expect(data.size).toBe(16 * MiB);
    expect(data.blocks).toBe(0);
    const meta = fs.readFileSync(path.join(dir, 'nvme0n1.zmeta'));
    expect(meta.subarray(0, 7).toString('latin1')).toBe('ZFUSEMD');
    const ns = openNs(dir);
    expect(ns.geometry.zoneCapacity).toBe(768 * KiB);
    expect(ns.engine.nrZones).toBe(16);
    ns.close();
  });

  it('refuses a duplicate namespace and a bad name', () => {
    const dir = tmpDir();
    createNamespace(dir, GEO, { name: 'nvme0n1' });
    expect(() => createNamespace(dir, GEO, { name: 'nvme0n1' })).toThrow(/already exists/);
    expect(() => createNamespace(dir, GEO, { name: '../x' })).toThrow(/invalid namespace name/);
    expect(() => createNamespace(dir, GEO, { name: 'ctl' })).toThrow(/reserved/);
    // Each refusal names its own reason: "." does not contain "..".
    expect(() => createNamespace(dir, GEO, { name: '.' })).toThrow('invalid namespace name ".": "." names a directory');
    expect(() => createNamespace(dir, GEO, { name: 'a..b' })).toThrow('the name contains ".."');
  });

  it('persists data, write pointers and states across close and reopen', () => {
    const dir = tmpDir();
    createNamespace(dir, GEO, { name: 'nvme0n1' });
    let ns = openNs(dir);
    const zl = ns.engine.zoneLbas;
    expect(ns.write(1 * zl, block(0xa1, 2), 0, 2 * 4096)).toBeUndefined();
    expect(ns.write(2 * zl, block(0xb2), 0, 4096)).toBeUndefined();
    expect(ns.manage('open', 3)).toBeUndefined();
    expect(ns.manage('finish', 4)).toBeUndefined();
    expect(ns.engine.stateOf(1)).toBe(ZoneState.IMPLICIT_OPEN);
    ns.close();

    ns = openNs(dir);
    expect(ns.recoveredFromUncleanShutdown).toBe(false);
    // Power-up: written open zones come back Closed, an empty explicitly opened one Empty.
    expect(ns.engine.stateOf(1)).toBe(ZoneState.CLOSED);
    expect(ns.engine.wpOf(1)).toBe(zl + 2);
    expect(ns.engine.stateOf(3)).toBe(ZoneState.EMPTY);
    expect(ns.engine.stateOf(4)).toBe(ZoneState.FULL);
    const buf = Buffer.alloc(3 * 4096);
    expect(ns.read(1 * MiB, buf, 0, buf.length)).toBe(buf.length);
    expect(buf.subarray(0, 8192).every((b) => b === 0xa1)).toBe(true);
    // Above the write pointer: zeros.
    expect(buf.subarray(8192).every((b) => b === 0)).toBe(true);
    ns.close();
  });

  it('detects an unclean shutdown', () => {
    const dir = tmpDir();
    createNamespace(dir, GEO, { name: 'nvme0n1' });
    const ns = openNs(dir);
    ns.write(ns.engine.zoneLbas, block(1), 0, 4096);
    ns.close(false); // like a crash: the CLEAN flag is never set again
    const again = openNs(dir);
    expect(again.recoveredFromUncleanShutdown).toBe(true);
    expect(again.info.uncleanCount).toBe(1);
    expect(again.engine.wpOf(1)).toBe(again.engine.zoneLbas + 1);
    again.close();
  });

  it('discards data above the write pointer after an unclean shutdown', () => {
    const dir = tmpDir();
    createNamespace(dir, GEO, { name: 'nvme0n1' });
    const ns = openNs(dir);
    ns.write(ns.engine.zoneLbas, block(1), 0, 4096);
    ns.close(false);
    // An unacknowledged write: data reached the image, the record did not.
    const fd = fs.openSync(path.join(dir, 'nvme0n1.data'), 'r+');
    fs.writeSync(fd, block(7, 4), 0, 4 * 4096, 1 * MiB + 4096);
    fs.closeSync(fd);
    const again = openNs(dir);
    expect(again.allocatedRanges(1 * MiB, 2 * MiB)).toEqual([[1 * MiB, 1 * MiB + 4096]]);
    again.close();
  });

  it('writes and reads a big-endian sidecar', () => {
    const dir = tmpDir();
    createNamespace(dir, GEO, { name: 'be', endianness: 'big' });
    const raw = fs.readFileSync(path.join(dir, 'be.zmeta'));
    expect(raw[Off.endianness]).toBe(2);
    expect(raw.readUInt32BE(Off.lbaSize)).toBe(4096);
    const ns = openNs(dir, 'be');
    expect(ns.info.endianness).toBe('big');
    ns.write(2 * ns.engine.zoneLbas, block(3, 3), 0, 3 * 4096);
    ns.close();
    const again = openNs(dir, 'be');
    expect(again.engine.wpOf(2)).toBe(2 * again.engine.zoneLbas + 3);
    again.close();
  });
});

describe('store corruption is refused with a message naming file and field', () => {
  function setup(): { dir: string; meta: string } {
    const dir = tmpDir();
    createNamespace(dir, GEO, { name: 'nvme0n1' });
    return { dir, meta: path.join(dir, 'nvme0n1.zmeta') };
  }
  function patch(file: string, at: number, bytes: number[]): void {
    const fd = fs.openSync(file, 'r+');
    fs.writeSync(fd, Buffer.from(bytes), 0, bytes.length, at);
    fs.closeSync(fd);
  }
  function flip(file: string, at: number): void {
    const b = fs.readFileSync(file);
    patch(file, at, [b[at]! ^ 0x40]);
  }
  function rechecksum(file: string): void {
    const b = fs.readFileSync(file);
    const crc = crc32(b.subarray(0, Off.checksum));
    const out = Buffer.alloc(4);
    out.writeUInt32LE(crc);
    patch(file, Off.checksum, [...out]);
  }

  /** Offset of the header's second copy: the sidecar's last block. */
  function copy2(meta: string): number {
    return fs.statSync(meta).size - HEADER_SIZE;
  }

  it('flipped header byte (in both copies)', () => {
    const { dir, meta } = setup();
    flip(meta, copy2(meta) + Off.zoneSize + 2);
    flip(meta, Off.zoneSize + 2);
    expect(() => openNs(dir)).toThrow(`${meta}: header checksum: mismatch`);
    expect(() => openNs(dir)).toThrow(/and no intact second copy$/);
  });

  it('flipped zone record byte', () => {
    const { dir, meta } = setup();
    flip(meta, HEADER_SIZE + 5 * RECORD_SIZE + 9);
    expect(() => openNs(dir)).toThrow(`${meta}: zone 5 record checksum: mismatch`);
  });

  it('truncated sidecar', () => {
    const { dir, meta } = setup();
    fs.truncateSync(meta, HEADER_SIZE + 3 * RECORD_SIZE);
    expect(() => openNs(dir)).toThrow(`${meta}: file size:`);
    fs.truncateSync(meta, 100);
    expect(() => openNs(dir)).toThrow(`${meta}: header: file is 100 bytes`);
  });

  it('wrong magic', () => {
    const { dir, meta } = setup();
    patch(meta, copy2(meta), [0x51, 0x46, 0x49]);
    patch(meta, 0, [0x51, 0x46, 0x49]);
    expect(() => openNs(dir)).toThrow(`${meta}: magic: expected "ZFUSEMD"`);
  });

  it('future version', () => {
    const { dir, meta } = setup();
    patch(meta, Off.version, [2, 0]);
    rechecksum(meta);
    expect(() => openNs(dir)).toThrow(`${meta}: version: format version 2 is newer than this zonefuse supports (1)`);
  });

  it('geometry mismatch', () => {
    const { dir, meta } = setup();
    expect(() => openNs(dir, 'nvme0n1', { expect: { zoneSize: 2 * MiB } })).toThrow(
      `${meta}: zoneSize: geometry mismatch: the store has 1048576, 2097152 was asked for`,
    );
  });

  it('data file of the wrong size', () => {
    const { dir } = setup();
    const data = path.join(dir, 'nvme0n1.data');
    fs.truncateSync(data, 4096);
    expect(() => openNs(dir)).toThrow(`${data}: size: 4096 bytes, but the namespace capacity is 16777216`);
  });

  it('never rewrites a refused file', () => {
    const { dir, meta } = setup();
    flip(meta, copy2(meta) + Off.zoneSize + 2);
    flip(meta, Off.zoneSize + 2);
    const before = fs.readFileSync(meta);
    expect(() => openNs(dir)).toThrow();
    expect(fs.readFileSync(meta).equals(before)).toBe(true);
  });
});

describe('store recovery', () => {
  it('opens a sidecar a crash left with one more open zone than the limit, and closes them', () => {
    const dir = tmpDir();
    createNamespace(dir, { ...GEO, maxOpen: 1, maxActive: 4 }, { name: 'nvme0n1' });
    const ns = openNs(dir);
    const zl = ns.engine.zoneLbas;
    ns.write(zl, block(1), 0, 4096);
    ns.close(false);
    // What a kill between the two record writes of an implicit close could leave: zone 2 open
    // on disk while zone 1 is still recorded open.
    const meta = path.join(dir, 'nvme0n1.zmeta');
    const codec = new RecordCodec('little');
    const buf = Buffer.alloc(RECORD_SIZE);
    codec.encode({ state: ZoneState.IMPLICIT_OPEN, type: 2, attrs: 0, flags: 0, wp: 2 * zl + 1, lbasWritten: 1, resets: 0, finishes: 0, extCrc: 0, durableWp: 2 * zl + 1 }, buf);
    const fd = fs.openSync(meta, 'r+');
    fs.writeSync(fd, buf, 0, RECORD_SIZE, HEADER_SIZE + 2 * RECORD_SIZE);
    fs.closeSync(fd);
    const again = openNs(dir);
    expect(again.engine.stateOf(1)).toBe(ZoneState.CLOSED);
    expect(again.engine.stateOf(2)).toBe(ZoneState.CLOSED);
    expect(again.engine.counts().open).toBe(0);
    again.close();
  });
});

describe('store write path', () => {
  it('rolls the engine back when the metadata write fails', () => {
    const dir = tmpDir();
    createNamespace(dir, GEO, { name: 'nvme0n1' });
    let fail = false;
    const ns = openNs(dir, 'nvme0n1', {
      beforeMetaWrite: () => {
        if (fail) throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
      },
    });
    const zl = ns.engine.zoneLbas;
    ns.write(zl, block(1), 0, 4096);
    fail = true;
    expect(() => ns.write(zl + 1, block(2), 0, 4096)).toThrow(/ENOSPC/);
    expect(ns.engine.wpOf(1)).toBe(zl + 1);
    expect(() => ns.manage('finish', 1)).toThrow(/ENOSPC/);
    expect(ns.engine.stateOf(1)).toBe(ZoneState.IMPLICIT_OPEN);
    fail = false;
    expect(ns.write(zl + 1, block(2), 0, 4096)).toBeUndefined();
    ns.close();
  });

  it('rejects a write off the write pointer without touching the data file', () => {
    const dir = tmpDir();
    createNamespace(dir, GEO, { name: 'nvme0n1' });
    const ns = openNs(dir);
    const r = ns.write(ns.engine.zoneLbas + 1, block(9), 0, 4096);
    expect(r?.status).toBe(Status.ZONE_INVALID_WRITE);
    expect(ns.allocatedBytes()).toBe(0);
    ns.close();
  });

  it('zone append returns where the data landed', () => {
    const dir = tmpDir();
    createNamespace(dir, GEO, { name: 'nvme0n1' });
    const ns = openNs(dir);
    const zl = ns.engine.zoneLbas;
    expect(ns.append(2, block(1, 2), 0, 8192)).toBe(2 * zl);
    expect(ns.append(2, block(2), 0, 4096)).toBe(2 * zl + 2);
    ns.close();
  });

  it('frees space on reset before the reset returns (st_blocks drop at once, du is true)', () => {
    const dir = tmpDir();
    createNamespace(dir, GEO, { name: 'nvme0n1' });
    const ns = openNs(dir);
    const zl = ns.engine.zoneLbas;
    ns.write(zl, block(5, 64), 0, 64 * 4096);
    ns.write(2 * zl, block(6, 64), 0, 64 * 4096);
    ns.flush();
    const blocks = (): number => fs.statSync(ns.dataPath).blocks * 512;
    const before = blocks();
    expect(before).toBeGreaterThanOrEqual(128 * 4096);
    expect(ns.manage('reset', 1)).toBeUndefined();
    expect(before - blocks()).toBe(64 * 4096);
    // Reads above the (reset) write pointer are zeros; a write right after lands and stays.
    const buf = Buffer.alloc(4096, 0xff);
    ns.read(1 * MiB, buf, 0, 4096);
    expect(buf.every((b) => b === 0)).toBe(true);
    expect(ns.write(zl, block(7, 2), 0, 2 * 4096)).toBeUndefined();
    expect(before - blocks()).toBe(62 * 4096);
    ns.read(1 * MiB, buf, 0, 4096);
    expect(buf.every((b) => b === 7)).toBe(true);
    expect(ns.manage('reset', 2)).toBeUndefined();
    expect(before - ns.allocatedBytes()).toBe(126 * 4096);
    ns.close();
  });

  it('persists descriptor extensions with a checksum', () => {
    const dir = tmpDir();
    createNamespace(dir, { ...GEO, descrExtSize: 64 }, { name: 'nvme0n1' });
    let ns = openNs(dir);
    expect(ns.setDescriptorExtension(5, Buffer.from('hello'))).toBeUndefined();
    ns.close();
    ns = openNs(dir);
    expect(ns.engine.stateOf(5)).toBe(ZoneState.CLOSED);
    expect(Buffer.from(ns.engine.extOf(5)!).subarray(0, 5).toString()).toBe('hello');
    ns.close();
  });
});

describe('store ownership', () => {
  it('allows one owner at a time and names it', () => {
    const dir = tmpDir();
    createNamespace(dir, GEO, { name: 'nvme0n1' });
    const a = Store.open(dir, { command: 'zonefuse mount /mnt/a' });
    let err: unknown;
    try {
      Store.open(dir);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(StoreBusyError);
    expect((err as Error).message).toMatch(new RegExp(`in use by pid ${process.pid} .*zonefuse mount /mnt/a`));
    a.close();
    const b = Store.open(dir);
    b.close();
  });

  it('removes a half-created namespace', () => {
    const dir = tmpDir();
    createNamespace(dir, GEO, { name: 'nvme0n1' });
    fs.writeFileSync(path.join(dir, 'nvme0n2.zmeta.tmp'), 'partial');
    fs.writeFileSync(path.join(dir, 'nvme0n2.data'), '');
    const s = Store.open(dir);
    expect([...s.namespaces.keys()]).toEqual(['nvme0n1']);
    s.close();
    expect(fs.existsSync(path.join(dir, 'nvme0n2.data'))).toBe(false);
  });
});
