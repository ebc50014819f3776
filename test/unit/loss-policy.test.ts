/**
 * Loss policies of a power loss with the volatile write cache on (PRODUCT.md §13), at the
 * engine and store level: which writes survive, where the write pointers land, the data, and
 * that the same seed always gives the same state.
 */
import { describe, it, expect } from 'vitest';
import { MiB, ZoneState } from '../../src/engine/index.js';
import { LOSS_ALL, LOSS_NONE, LossPolicy, formatLossPolicy, keepsLba, parseLossPolicy, survivingWrites } from '../../src/engine/loss-policy.js';
import { createNamespace } from '../../src/store/store.js';
import { StoredNamespace } from '../../src/store/stored-namespace.js';
import { tmpDir } from '../helpers/tmp.js';

const GEO = { capacity: 16 * MiB, zoneSize: 1 * MiB, lbaSize: 4096, convZones: 1, maxOpen: 6, maxActive: 6 };
const L = 4096;

/** LBA content that names the write and the LBA, so any mix-up shows. */
function data(write: number, nlb: number): Buffer {
  const b = Buffer.alloc(nlb * L);
  for (let i = 0; i < nlb; i++) b.fill(`w${write}.${i};`, i * L, (i + 1) * L);
  return b;
}

function read(ns: StoredNamespace, lba: number, n: number): Buffer {
  const b = Buffer.alloc(n * L, 0xee);
  expect(ns.read(lba * L, b, 0, b.length)).toBe(b.length);
  return b;
}

interface Scenario {
  ns: StoredNamespace;
  /** Per sequential zone used: durable write pointer, then the write pointer after each unflushed write. */
  ends: Map<number, number[]>;
  /** Data of each zone's LBAs from its start, as written. */
  written: Map<number, Buffer>;
  /** Conventional LBAs 0..7: content at the flush, and after the unflushed overwrite. */
  convOld: Buffer;
  convNew: Buffer;
}

/**
 * Zones 2, 3, 4: some flushed writes, then unflushed ones of different sizes; zone 5 written
 * then reset (durable), zone 6 written then finished (durable); conventional LBAs 0..7 written,
 * flushed, overwritten.
 */
function scenario(): Scenario {
  const dir = tmpDir();
  createNamespace(dir, GEO, { name: 'nvme0n1', volatileCache: true });
  const ns = StoredNamespace.open(dir, 'nvme0n1');
  const ends = new Map<number, number[]>();
  const written = new Map<number, Buffer>();
  let w = 0;
  const write = (z: number, nlb: number): void => {
    const d = data(++w, nlb);
    const wp = ns.engine.wpOf(z);
    expect(ns.write(wp, d, 0, d.length)).toBeUndefined();
    written.set(z, Buffer.concat([written.get(z) ?? Buffer.alloc(0), d]));
  };
  const convOld = data(100, 8);
  expect(ns.writeRandom(0, convOld, 0, convOld.length)).toBeUndefined();
  write(2, 2);
  write(3, 1);
  ns.flush();
  for (const z of [2, 3, 4]) ends.set(z, [ns.engine.wpOf(z)]);
  const sizes: Record<number, number[]> = { 2: [1, 3, 2, 1], 3: [5], 4: [2, 2, 2] };
  for (let round = 0; round < 4; round++) {
    for (const z of [2, 3, 4]) {
      const nlb = sizes[z]![round];
      if (nlb === undefined) continue;
      write(z, nlb);
      ends.get(z)!.push(ns.engine.wpOf(z));
    }
  }
  write(5, 3);
  expect(ns.manage('reset', 5)).toBeUndefined();
  write(6, 2);
  expect(ns.manage('finish', 6)).toBeUndefined();
  const convNew = data(200, 8);
  expect(ns.writeRandom(0, convNew, 0, convNew.length)).toBeUndefined();
  return { ns, ends, written, convOld, convNew };
}

/** Zone write pointers and the data of everything the scenario touched. */
function snapshot(ns: StoredNamespace): string {
  const e = ns.engine;
  const parts: string[] = [];
  for (let z = 1; z <= 6; z++) parts.push(`${z}:${e.stateOf(z)}:${e.wpOf(z)}:${read(ns, e.zoneStart(z), 16).toString('base64')}`);
  parts.push(read(ns, 0, 8).toString('base64'));
  return parts.join('|');
}

function powerLoss(policy: LossPolicy): { s: Scenario; state: string } {
  const s = scenario();
  s.ns.powerCycle('power-loss', policy);
  return { s, state: snapshot(s.ns) };
}

describe('loss policy: parsing and the seeded choices', () => {
  it('parses none, all and prefix:SEED and refuses anything else', () => {
    expect(parseLossPolicy('none')).toEqual({ kind: 'none' });
    expect(parseLossPolicy('all')).toEqual({ kind: 'all' });
    expect(parseLossPolicy('prefix:42')).toEqual({ kind: 'prefix', seed: 42 });
    expect(formatLossPolicy(parseLossPolicy('prefix:4294967295'))).toBe('prefix:4294967295');
    for (const bad of ['', 'some', 'prefix:', 'prefix:-1', 'prefix:01', 'prefix:4294967296', 'prefix:1.5', 'all ']) {
      expect(() => parseLossPolicy(bad), bad).toThrow(/none, all or prefix:SEED/);
    }
  });

  it('prefix lengths cover 0..n over seeds, are stable per seed, and conventional LBAs split both ways', () => {
    const seen = new Set<number>();
    for (let seed = 0; seed < 200; seed++) {
      const p: LossPolicy = { kind: 'prefix', seed };
      const k = survivingWrites(p, 7, 4);
      expect(k).toBe(survivingWrites(p, 7, 4));
      expect(k).toBeGreaterThanOrEqual(0);
      expect(k).toBeLessThanOrEqual(4);
      seen.add(k);
    }
    expect([...seen].sort()).toEqual([0, 1, 2, 3, 4]);
    expect(survivingWrites(LOSS_NONE, 7, 4)).toBe(0);
    expect(survivingWrites(LOSS_ALL, 7, 4)).toBe(4);
    const p: LossPolicy = { kind: 'prefix', seed: 9 };
    let kept = 0;
    for (let lba = 0; lba < 1000; lba++) if (keepsLba(p, lba)) kept++;
    expect(kept).toBeGreaterThan(400);
    expect(kept).toBeLessThan(600);
    // LBAs beyond 2^32 are not folded onto small ones.
    const high = Array.from({ length: 64 }, (_, i) => keepsLba(p, 2 ** 32 + i));
    const low = Array.from({ length: 64 }, (_, i) => keepsLba(p, i));
    expect(high).not.toEqual(low);
  });
});

describe('loss policy at the store level', () => {
  it('none: every zone back to its last flush, conventional LBAs back to their pre-image; zone management stays', () => {
    const { s } = powerLoss(LOSS_NONE);
    const e = s.ns.engine;
    for (const [z, ends] of s.ends) expect(e.wpOf(z), `zone ${z}`).toBe(ends[0]);
    expect(read(s.ns, 0, 8).equals(s.convOld)).toBe(true);
    expect(e.stateOf(5)).toBe(ZoneState.EMPTY); // the reset was durable
    expect(e.stateOf(6)).toBe(ZoneState.FULL); // the finish too, with the data written before it
    expect(read(s.ns, e.zoneStart(6), 2).equals(s.written.get(6)!)).toBe(true);
    s.ns.close();
  });

  it('all: every acknowledged write survives', () => {
    const { s } = powerLoss(LOSS_ALL);
    const e = s.ns.engine;
    for (const [z, ends] of s.ends) {
      expect(e.wpOf(z), `zone ${z}`).toBe(ends[ends.length - 1]);
      expect(e.stateOf(z)).toBe(ZoneState.CLOSED);
      const n = ends[ends.length - 1]! - e.zoneStart(z);
      expect(read(s.ns, e.zoneStart(z), n).equals(s.written.get(z)!.subarray(0, n * L))).toBe(true);
    }
    expect(read(s.ns, 0, 8).equals(s.convNew)).toBe(true);
    expect(e.stateOf(5)).toBe(ZoneState.EMPTY);
    s.ns.close();
  });

  it('prefix:SEED: each zone stops at a write boundary with exactly that prefix of its data, zeros above; each conventional LBA new or old as the seed says', async () => {
    const prefixes = new Map<number, Set<number>>();
    for (let seed = 1; seed <= 24; seed++) {
      const policy: LossPolicy = { kind: 'prefix', seed };
      const { s } = powerLoss(policy);
      const e = s.ns.engine;
      for (const [z, ends] of s.ends) {
        const wp = e.wpOf(z);
        const k = ends.indexOf(wp);
        expect(k, `zone ${z} seed ${seed}: write pointer ${wp} is not a write boundary ${ends}`).toBeGreaterThanOrEqual(0);
        expect(k).toBe(survivingWrites(policy, z, ends.length - 1));
        if (!prefixes.has(z)) prefixes.set(z, new Set());
        prefixes.get(z)!.add(k);
        const n = wp - e.zoneStart(z);
        const got = read(s.ns, e.zoneStart(z), 16);
        expect(got.subarray(0, n * L).equals(s.written.get(z)!.subarray(0, n * L))).toBe(true);
        expect(got.subarray(n * L).every((b) => b === 0)).toBe(true);
      }
      const conv = read(s.ns, 0, 8);
      for (let l = 0; l < 8; l++) {
        const want = keepsLba(policy, l) ? s.convNew : s.convOld;
        expect(conv.subarray(l * L, (l + 1) * L).equals(want.subarray(l * L, (l + 1) * L)), `seed ${seed} LBA ${l}`).toBe(true);
      }
      expect(e.stateOf(5)).toBe(ZoneState.EMPTY);
      s.ns.close();
      await new Promise((r) => setImmediate(r));
    }
    // Over the seeds, zone 2 (4 unflushed writes) kept different prefixes, the shortest and longest among them.
    expect(prefixes.get(2)!.size).toBeGreaterThanOrEqual(3);
  });

  it('the same seed gives the same state, another seed usually another one', () => {
    const a = powerLoss({ kind: 'prefix', seed: 77 });
    const b = powerLoss({ kind: 'prefix', seed: 77 });
    expect(b.state).toBe(a.state);
    const others = [78, 79, 80, 81].map((seed) => powerLoss({ kind: 'prefix', seed }));
    expect(others.some((o) => o.state !== a.state)).toBe(true);
    for (const x of [a, b, ...others]) x.s.ns.close();
  });

  it('a flush after the power loss starts from the kept state (the kept writes are durable, the cache empty)', () => {
    const { s } = powerLoss({ kind: 'prefix', seed: 5 });
    const before = snapshot(s.ns);
    s.ns.powerCycle('power-loss');
    expect(snapshot(s.ns)).toBe(before);
    s.ns.close();
  });
});
