/**
 * crashtest's crash states against the store itself: a random workload is recorded (the trace of
 * store/trace.ts), and for many crash points and loss policies the state crashtest materialises
 * from the trace must be exactly what the store leaves when the same workload stops at that point
 * and loses power with the same policy (`power-cycle keep=…`). Zones, write pointers, attributes
 * and every byte of data are compared. In-process: no FUSE.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { describe, it, expect } from 'vitest';
import { MiB } from '../../src/engine/index.js';
import { LOSS_ALL, LOSS_NONE, LossPolicy, formatLossPolicy } from '../../src/engine/loss-policy.js';
import { createNamespace } from '../../src/store/store.js';
import { StoredNamespace } from '../../src/store/stored-namespace.js';
import { traceFiles } from '../../src/store/trace.js';
import { Replayer, TraceModel, parseStateId } from '../../src/crashtest/model.js';
import { planStates } from '../../src/crashtest/explore.js';
import { Materializer } from '../../src/crashtest/materialize.js';
import { tmpDir } from '../helpers/tmp.js';
import { mulberry32 } from '../helpers/prng.mjs';

const GEO = { capacity: 4 * MiB, zoneSize: 256 * 1024, zoneCapacity: 192 * 1024, lbaSize: 4096, convZones: 2, maxOpen: 3, maxActive: 4, descrExtSize: 64 };
const L = 4096;
const NAME = 'nvme0n1';

type Op = (ns: StoredNamespace) => boolean;

function freshStore(): { dir: string; ns: StoredNamespace } {
  const dir = tmpDir();
  createNamespace(dir, GEO, { name: NAME, volatileCache: true });
  return { dir, ns: StoredNamespace.open(dir, NAME) };
}

/** Random operations; each returns whether the device accepted it (refused ones change nothing and are dropped). */
function randomOps(seed: number, count: number, probe: StoredNamespace): Op[] {
  const rnd = mulberry32(seed);
  const int = (lo: number, hi: number): number => lo + Math.floor(rnd() * (hi - lo + 1));
  const e = probe.engine;
  const ops: Op[] = [];
  let n = 0;
  while (ops.length < count) {
    const r = rnd();
    const z = int(e.convZones, e.nrZones - 1);
    const tag = ++n;
    const fill = (len: number): Buffer => {
      const b = Buffer.alloc(len);
      for (let i = 0; i < len; i += 16) b.write(`op${tag}@${i};`.padEnd(16, '.'), i, 'latin1');
      return b;
    };
    let op: Op;
    if (r < 0.35) {
      const nlb = int(1, 6);
      op = (ns) => ns.write(ns.engine.wpOf(z), fill(nlb * L), 0, nlb * L) === undefined;
    } else if (r < 0.5) {
      const nlb = int(1, 4);
      op = (ns) => typeof ns.append(z, fill(nlb * L), 0, nlb * L) === 'number';
    } else if (r < 0.65) {
      // Unaligned conventional writes: pre-images are per LBA.
      const off = int(0, e.convZones * e.zoneLbas * L - 20000);
      const len = int(1, 12000);
      op = (ns) => ns.writeRandom(off, fill(len), 0, len) === undefined;
    } else if (r < 0.75) {
      op = (ns) => {
        ns.flush();
        return true;
      };
    } else if (r < 0.81) {
      op = (ns) => ns.manage('reset', z) === undefined;
    } else if (r < 0.85) {
      op = (ns) => ns.manage('finish', z) === undefined;
    } else if (r < 0.89) {
      const cmd = rnd() < 0.5 ? 'open' : 'close';
      op = (ns) => ns.manage(cmd, z) === undefined;
    } else if (r < 0.91) {
      const ext = fill(64);
      op = (ns) => ns.setDescriptorExtension(z, ext) === undefined;
    } else if (r < 0.93) {
      op = (ns) => ns.manage('reset', 'all') === undefined;
    } else {
      const label = `m${tag}`;
      op = (ns) => {
        ns.mark(label);
        return true;
      };
    }
    // Keep only operations the device accepts at this point of the sequence.
    if (op(probe)) ops.push(op);
  }
  return ops;
}

/** What a program could observe of a namespace: zones and all of its data. */
function observe(ns: StoredNamespace): string {
  const e = ns.engine;
  const zones: string[] = [];
  for (let z = 0; z < e.nrZones; z++) zones.push(`${z}:${e.stateOf(z)}:${e.wpOf(z)}:${e.attrsOf(z)}:${e.extOf(z) ? Buffer.from(e.extOf(z)!).toString('hex') : '-'}`);
  const h = createHash('sha256');
  const buf = Buffer.alloc(512 * 1024);
  for (let off = 0; off < ns.capacity; off += buf.length) {
    const r = ns.read(off, buf, 0, buf.length);
    if (typeof r !== 'number') {
      h.update(`unreadable@${off}`);
      continue;
    }
    h.update(buf);
  }
  return zones.join(' ') + ' data=' + h.digest('hex');
}

describe('crashtest states equal what the store leaves after the same power loss', () => {
  it('for flush boundaries and sampled per-zone prefixes of a random workload', async () => {
    // The recorded run.
    const rec = freshStore();
    const probe = freshStore();
    const ops = randomOps(20261203, 160, probe.ns);
    probe.ns.close();
    const work = tmpDir();
    rec.ns.startTrace(path.join(work, 'trace'));
    for (const op of ops) expect(op(rec.ns)).toBe(true);
    rec.ns.close();
    const model = new TraceModel(traceFiles(path.join(work, 'trace'), NAME), NAME, path.join(work, 'replay'));
    expect(model.ops.length).toBe(ops.length);
    expect(model.summary.flushes).toBeGreaterThan(5);
    const mat = new Materializer(model, path.join(rec.dir, `${NAME}.data`), work, 'sparse');

    const plan = planStates(model, { seed: 3, maxStates: 90 });
    expect(plan.boundaries).toBeGreaterThan(10);
    expect(plan.sampled).toBeGreaterThan(10);
    const chosen = [...plan.chosen];
    // Also some explicit points, to cover every policy at a few places.
    for (const point of [1, 17, 55, 100, ops.length]) {
      for (const policy of [LOSS_NONE, LOSS_ALL, { kind: 'prefix', seed: point * 7 } as LossPolicy]) {
        chosen.push({ id: `${point}:${formatLossPolicy(policy)}`, point, policy, kind: 'requested' });
      }
    }
    chosen.sort((a, b) => a.point - b.point);
    const replayer = new Replayer(model);
    let compared = 0;
    for (const c of chosen) {
      replayer.advanceTo(c.point);
      const state = replayer.capture(c.policy, c.kind);
      expect(parseStateId(state.id)).toEqual({ point: c.point, policy: c.policy });
      const dir = tmpDir();
      mat.write(state, dir, NAME);
      const got = StoredNamespace.open(dir, NAME);
      const gotView = observe(got);
      got.close();

      const ref = freshStore();
      for (const op of ops.slice(0, c.point)) expect(op(ref.ns)).toBe(true);
      ref.ns.powerCycle('power-loss', c.policy);
      const want = observe(ref.ns);
      ref.ns.close();
      expect(gotView, `state ${state.id}`).toBe(want);
      fs.rmSync(dir, { recursive: true, force: true });
      compared++;
      // A long synchronous loop would starve vitest's worker RPC: let the event loop run.
      await new Promise((r) => setImmediate(r));
    }
    mat.close();
    expect(compared).toBeGreaterThan(70);
  }, 240_000);

  it('deduplicates: the same seed plans the same states, and no two planned states are the same', () => {
    const rec = freshStore();
    const probe = freshStore();
    const ops = randomOps(7, 80, probe.ns);
    probe.ns.close();
    const work = tmpDir();
    rec.ns.startTrace(path.join(work, 'trace'));
    for (const op of ops) op(rec.ns);
    rec.ns.close();
    const model = new TraceModel(traceFiles(path.join(work, 'trace'), NAME), NAME, path.join(work, 'replay'));
    const a = planStates(model, { seed: 11, maxStates: 40 });
    const b = planStates(model, { seed: 11, maxStates: 40 });
    expect(b.chosen.map((c) => c.id)).toEqual(a.chosen.map((c) => c.id));
    const c = planStates(model, { seed: 12, maxStates: 40 });
    expect(c.chosen.filter((x) => x.kind === 'sampled').map((x) => x.id)).not.toEqual(a.chosen.filter((x) => x.kind === 'sampled').map((x) => x.id));
    const r = new Replayer(model);
    const sigs = new Set<string>();
    for (const s of [...a.chosen].sort((x, y) => x.point - y.point)) {
      r.advanceTo(s.point);
      sigs.add(r.capture(s.policy, s.kind).signature);
    }
    expect(sigs.size).toBe(a.chosen.length);
  }, 60_000);
});
