/**
 * Following zone changes (docs/zones-bin.md "Following changes"): the change sequence numbers in
 * zones.bin records, the changes.bin summary and its decoder, the mount's tracker, and, over a
 * real store and the mount's file tree in this process, that a follower reading only what
 * changes.bin points at sees exactly the zones whose records changed, whatever changed them.
 */
import { describe, it, expect } from 'vitest';
import { MiB, ZonedNamespace } from '../../src/engine/index.js';
import {
  ZONES_BIN_HEADER_SIZE, ZONES_BIN_RECORD_SIZE, ZonesBinFlag, decodeZoneRecord, decodeZonesBin, decodeZonesBinHeader,
  encodeZonesBin, generationCount, generationEpoch, makeGeneration, readZonesBin,
} from '../../src/format/zones-bin.js';
import {
  CHANGES_BIN_HEADER_SIZE, CHANGE_GROUP_ZONES, changesBinSize, decodeChangesBin, encodeChangesBin, runsSince,
} from '../../src/format/changes-bin.js';
import { ZoneChangeTracker } from '../../src/vfs/zone-changes.js';
import { Store, createNamespace } from '../../src/store/store.js';
import { ZoneFs } from '../../src/vfs/zone-fs.js';
import { O_RDWR, O_WRONLY } from '../../src/vfs/errno.js';
import { silentLogger } from '../../src/log.js';
import { mulberry32 } from '../helpers/prng.mjs';
import { tmpDir } from '../helpers/tmp.js';

const epochs = (...xs: number[]): (() => number) => () => xs.shift() ?? 99;

describe('the change tracker', () => {
  it('gives the zones of one operation one new number, and each group the highest of its zones', () => {
    const t = new ZoneChangeTracker(200, { newEpoch: epochs(7) });
    expect(t.generation).toBe(makeGeneration(7, 0));
    expect(t.groupSeq).toHaveLength(4); // 64 + 64 + 64 + 8
    t.changed([3, 130]);
    t.changed([5]);
    t.bump(); // something else moved: the generation, not a zone
    t.changed([199]);
    expect(t.count).toBe(4);
    expect([t.zoneSeq[3], t.zoneSeq[130], t.zoneSeq[5], t.zoneSeq[199], t.zoneSeq[4]]).toEqual([1, 1, 2, 4, 0]);
    expect([...t.groupSeq]).toEqual([2, 0, 1, 4]);
    t.changed([]);
    expect(t.count).toBe(4);
  });

  it('starts a new epoch instead of letting the count wrap, forgetting every number', () => {
    // The source offers the old epoch again first: the tracker must not take it.
    const t = new ZoneChangeTracker(70, { newEpoch: epochs(5, 5, 6), count: 0xffff_fffe });
    t.changed([1]);
    expect(t.generation).toBe(makeGeneration(5, 0xffff_ffff));
    expect(t.zoneSeq[1]).toBe(0xffff_ffff);
    t.changed([69]);
    expect(generationEpoch(t.generation)).toBe(6);
    expect(t.count).toBe(1);
    expect(t.zoneSeq[1]).toBe(0);
    expect(t.zoneSeq[69]).toBe(1);
    expect([...t.groupSeq]).toEqual([0, 1]);
  });
});

describe('zones.bin and changes.bin with change tracking', () => {
  function engineWithChanges(): { e: ZonedNamespace; t: ZoneChangeTracker } {
    const e = new ZonedNamespace({ capacity: 150 * MiB, zoneSize: MiB, lbaSize: 4096, convZones: 1, maxOpen: 8, maxActive: 8 });
    const t = new ZoneChangeTracker(e.nrZones, { newEpoch: epochs(0xabcd_0123) });
    expect(e.write(2 * e.zoneLbas, 3)).toBeUndefined();
    t.changed(e.lastChanges());
    expect(e.manage('finish', 140)).toBeUndefined();
    t.changed(e.lastChanges());
    return { e, t };
  }

  it('sets CHANGE_SEQ, an EPOCH:COUNT generation and each record\'s number; a store read from its files has neither', () => {
    const { e, t } = engineWithChanges();
    const buf = encodeZonesBin({ engine: e, changes: t });
    const h = decodeZonesBinHeader(buf);
    expect(h.flags).toBe(ZonesBinFlag.CHANGE_SEQ);
    expect(h.generation).toBe(0xabcd_0123_0000_0002n);
    expect(generationEpoch(h.generation)).toBe(0xabcd_0123);
    expect(generationCount(h.generation)).toBe(2);
    const { zones } = decodeZonesBin(buf);
    expect(zones.map((r) => r.changeSeq).filter((s) => s > 0)).toEqual([1, 2]);
    expect(zones[2]!.changeSeq).toBe(1);
    expect(zones[140]!.changeSeq).toBe(2);
    expect(buf.readUInt32LE(ZONES_BIN_HEADER_SIZE + 140 * ZONES_BIN_RECORD_SIZE + 44)).toBe(2);
    // A partial range carries the same numbers.
    const one = Buffer.alloc(ZONES_BIN_RECORD_SIZE);
    readZonesBin({ engine: e, changes: t }, one, one.length, ZONES_BIN_HEADER_SIZE + 140 * ZONES_BIN_RECORD_SIZE);
    expect(decodeZoneRecord(one, 0, 140).changeSeq).toBe(2);
    // Without tracking (zonefuse map on an unmounted store): the version 1 file as it always was.
    const plain = encodeZonesBin({ engine: e, generation: 5n });
    expect(decodeZonesBinHeader(plain)).toMatchObject({ flags: 0, generation: 5n });
    expect(decodeZonesBin(plain).zones.every((r) => r.changeSeq === 0)).toBe(true);
    // Only the number differs between the two.
    for (let z = 0; z < e.nrZones; z++) {
      const at = ZONES_BIN_HEADER_SIZE + z * ZONES_BIN_RECORD_SIZE;
      expect(buf.subarray(at, at + 44).equals(plain.subarray(at, at + 44))).toBe(true);
    }
  });

  it('summarises the groups in changes.bin, and points a follower at exactly the groups that changed', () => {
    const { e, t } = engineWithChanges();
    const buf = encodeChangesBin(t, e.nrZones);
    expect(buf.length).toBe(changesBinSize(150));
    expect(buf.length).toBe(CHANGES_BIN_HEADER_SIZE + 4 * 3);
    expect(buf.toString('latin1', 0, 4)).toBe('ZFZC');
    const c = decodeChangesBin(buf);
    expect(c.header).toEqual({ version: 1, headerSize: 32, groupZones: CHANGE_GROUP_ZONES, nrGroups: 3, nrZones: 150, generation: t.generation });
    expect([...c.groupSeq]).toEqual([1, 0, 2]);
    expect(runsSince(c, makeGeneration(0xabcd_0123, 0))).toEqual([{ first: 0, count: 64 }, { first: 128, count: 22 }]);
    expect(runsSince(c, makeGeneration(0xabcd_0123, 1))).toEqual([{ first: 128, count: 22 }]);
    expect(runsSince(c, t.generation)).toEqual([]);
    // Another epoch: read everything.
    expect(runsSince(c, makeGeneration(0x1111, 1))).toBeUndefined();
    // Adjacent groups make one run.
    t.changed([64, 65]);
    expect(runsSince(decodeChangesBin(encodeChangesBin(t, e.nrZones)), makeGeneration(0xabcd_0123, 1))).toEqual([{ first: 64, count: 86 }]);
  });

  it('refuses what is not a changes.bin file', () => {
    const { e, t } = engineWithChanges();
    const good = encodeChangesBin(t, e.nrZones);
    expect(() => decodeChangesBin(good.subarray(0, 31))).toThrow(/at least 32 bytes/);
    expect(() => decodeChangesBin(good.subarray(0, good.length - 1))).toThrow(/needed/);
    const magic = Buffer.from(good);
    magic.write('ZFZB', 0, 'latin1');
    expect(() => decodeChangesBin(magic)).toThrow(/not a changes.bin file/);
    const v2 = Buffer.from(good);
    v2.writeUInt16LE(2, 4);
    expect(() => decodeChangesBin(v2)).toThrow(/version 2/);
    const groups = Buffer.from(good);
    groups.writeUInt32LE(2, 12);
    expect(() => decodeChangesBin(groups)).toThrow(/do not cover 150 zones/);
  });
});

// -------------------------------------------------------------------------------------------------
// The contract over a real store and the mount's tree (ZoneFs), without FUSE in between.

const LBA = 4096;
const ZONE = 64 * 1024;

/** What the follower protocol of docs/zones-bin.md does, with ZoneFs reads in place of pread. */
class Follower {
  records = Buffer.alloc(0);
  generation = 0n;
  /** Records read in the last follow. */
  read = 0;

  constructor(private readonly fs: ZoneFs, private readonly dir: string) {}

  private file(name: string, len: number, pos: number): Buffer {
    const fh = this.fs.open(`${this.dir}/${name}`, 0);
    expect(fh).toBeGreaterThan(0);
    const buf = Buffer.alloc(len);
    const n = this.fs.read(fh, buf, len, pos);
    this.fs.release(fh);
    expect(n).toBeGreaterThanOrEqual(0);
    return buf.subarray(0, n);
  }

  /** The zones whose content changed since the last call, and whether everything had to be read. */
  follow(): { changed: number[]; full: boolean } {
    const head = decodeZonesBinHeader(this.file('zones.bin', 64, 0));
    const n = head.nrZones;
    const size = n * ZONES_BIN_RECORD_SIZE;
    const changed: number[] = [];
    const take = (buf: Buffer, at: number, z: number): void => {
      const known = z * ZONES_BIN_RECORD_SIZE;
      if (buf.compare(this.records, known, known + 44, at, at + 44) !== 0) changed.push(z);
      buf.copy(this.records, known, at, at + ZONES_BIN_RECORD_SIZE);
    };
    const runs = this.records.length === size && generationEpoch(head.generation) === generationEpoch(this.generation)
      ? runsSince(decodeChangesBin(this.file('changes.bin', 1 << 20, 0)), this.generation)
      : undefined;
    this.read = 0;
    if (!runs) {
      const all = this.file('zones.bin', 64 + size, 0);
      const first = this.records.length !== size;
      if (first) this.records = Buffer.alloc(size);
      for (let z = 0; z < n; z++) take(all, 64 + z * ZONES_BIN_RECORD_SIZE, z);
      this.generation = decodeZonesBinHeader(all).generation;
      this.read = n;
      return { changed: first ? [] : changed, full: true };
    }
    const since = generationCount(this.generation);
    for (const r of runs) {
      const buf = this.file('zones.bin', r.count * ZONES_BIN_RECORD_SIZE, 64 + r.first * ZONES_BIN_RECORD_SIZE);
      for (let i = 0; i < r.count; i++) if (buf.readUInt32LE(i * ZONES_BIN_RECORD_SIZE + 44) > since) take(buf, i * ZONES_BIN_RECORD_SIZE, r.first + i);
      this.read += r.count;
    }
    this.generation = head.generation;
    return { changed, full: false };
  }
}

describe('a follower of a mounted namespace', () => {
  it('sees exactly the zones whose records changed, whatever changed them, reading only their groups', () => {
    const dir = tmpDir();
    // 300 zones (groups of 64: the last one short), timers, a volatile cache, few resources: one
    // operation may change zones it does not name (an implicit close, a power cycle, the timers).
    createNamespace(dir, {
      capacity: 300 * ZONE, zoneSize: ZONE, lbaSize: LBA, convZones: 2, maxOpen: 3, maxActive: 5, rrl: 1, frl: 1,
    }, { name: 'nvme0n1', volatileCache: true });
    const store = Store.open(dir, { logger: silentLogger });
    const zfs = new ZoneFs(store, silentLogger);
    try {
      const ns = store.namespaces.get('nvme0n1')!;
      const e = ns.engine;
      const follower = new Follower(zfs, '/nvme0n1.zones');
      expect(follower.follow().full).toBe(true);
      const whole = (): Buffer => {
        const fh = zfs.open('/nvme0n1.zones/zones.bin', 0);
        const buf = Buffer.alloc(64 + e.nrZones * ZONES_BIN_RECORD_SIZE);
        expect(zfs.read(fh, buf, buf.length, 0)).toBe(buf.length);
        zfs.release(fh);
        return buf;
      };
      const ctl = (cmd: string): void => {
        const fh = zfs.open('/nvme0n1.zones/ctl', O_WRONLY);
        zfs.write(fh, Buffer.from(cmd), cmd.length, 0); // a refused command changes nothing: fine here
        zfs.release(fh);
      };
      const dev = zfs.open('/nvme0n1', O_RDWR);
      const rnd = mulberry32(1606);
      const pick = (n: number): number => Math.floor(rnd() * n);
      // Each operation answers the zone it names (-1: none).
      let named = -1;
      const seqZone = (): number => (named = 2 + pick(e.nrZones - 2));
      const ops: Array<[string, () => void]> = [
        ['write', () => {
          const z = (named = pick(e.nrZones));
          const at = e.isConventional(z) ? z * ZONE : e.wpOf(z) * LBA;
          const len = LBA * (1 + pick(3));
          if (at + len <= (z + 1) * ZONE) zfs.write(dev, Buffer.alloc(len, 0x5a), len, at);
        }],
        ['open', () => ctl(`open ${seqZone()}`)],
        ['close', () => ctl(`close ${seqZone()}`)],
        ['finish', () => ctl(`finish ${seqZone()}`)],
        ['reset', () => ctl(`reset ${seqZone()}`)],
        ['offline', () => ctl(`offline ${seqZone()}`)],
        ['readonly', () => ctl(`readonly ${seqZone()}`)],
        ['recommend', () => ctl(`recommend reset ${seqZone()}`)],
        ['excursion', () => ctl(`excursion ${seqZone()}`)],
        ['clock', () => ctl('clock +2')],
        ['flush', () => ctl('flush')],
        ['power-cycle', () => ctl('power-cycle')],
        ['shutdown', () => ctl('shutdown')],
        ['reset all', () => ctl('reset all')],
      ];
      const weights = [40, 6, 4, 4, 6, 1, 1, 2, 2, 2, 2, 2, 1, 1];
      const seen = new Set<string>();
      let before = whole();
      let partialReads = 0;
      for (let i = 0; i < 600; i++) {
        let w = pick(weights.reduce((a, b) => a + b));
        let k = 0;
        while (w >= weights[k]!) w -= weights[k++]!;
        const [name, op] = ops[k]!;
        named = -1;
        op();
        const after = whole();
        const changed: number[] = [];
        for (let z = 0; z < e.nrZones; z++) {
          const at = 64 + z * ZONES_BIN_RECORD_SIZE;
          if (!after.subarray(at, at + 44).equals(before.subarray(at, at + 44))) changed.push(z);
        }
        if (changed.length > 0) seen.add(name);
        const got = follower.follow();
        expect(got.changed, `after ${name} (step ${i})`).toEqual(changed);
        expect(got.full, `after ${name} (step ${i})`).toBe(false);
        // What the follower knows is the whole file.
        expect(follower.records.equals(after.subarray(64)), `after ${name} (step ${i})`).toBe(true);
        // It read only the groups of the zones that changed, and of the zone the operation named
        // (a command that changes nothing, like recommending a reset twice, may still rewrite its
        // record); a flush also rewrites the records whose durable write pointer it settles.
        const groups = new Set([...changed, ...(named >= 0 ? [named] : [])].map((z) => Math.floor(z / CHANGE_GROUP_ZONES)));
        if (name !== 'flush' && name !== 'shutdown' && name !== 'power-cycle' && name !== 'reset all') {
          expect(follower.read, `after ${name} (step ${i})`).toBeLessThanOrEqual(groups.size * CHANGE_GROUP_ZONES);
        }
        if (follower.read < e.nrZones) partialReads++;
        before = after;
      }
      zfs.release(dev);
      // The walk reached the operations that change zones they do not name.
      for (const name of ['write', 'finish', 'reset', 'clock', 'power-cycle', 'reset all']) expect(seen, name).toContain(name);
      expect(partialReads).toBeGreaterThan(500);
    } finally {
      zfs.commitAll();
      store.close();
    }
  });

  it('reads everything after a detach and attach: another epoch', () => {
    const dir = tmpDir();
    createNamespace(dir, { capacity: 100 * ZONE, zoneSize: ZONE, lbaSize: LBA, convZones: 0 }, { name: 'nvme0n1' });
    const store = Store.open(dir, { logger: silentLogger });
    const zfs = new ZoneFs(store, silentLogger);
    const ctl = (cmd: string): void => {
      const fh = zfs.open('/ctl', O_WRONLY);
      expect(zfs.write(fh, Buffer.from(cmd), cmd.length, 0)).toBe(cmd.length);
      zfs.release(fh);
    };
    try {
      const follower = new Follower(zfs, '/nvme0n1.zones');
      follower.follow();
      const g0 = follower.generation;
      ctl('detach nvme0n1');
      ctl('attach nvme0n1');
      const got = follower.follow();
      expect(got.full).toBe(true);
      expect(got.changed).toEqual([]);
      expect(generationEpoch(follower.generation)).not.toBe(generationEpoch(g0));
    } finally {
      zfs.commitAll();
      store.close();
    }
  });
});
