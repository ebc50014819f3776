/**
 * Which crash states to check (PRODUCT.md §13): every flush boundary, plus sampled states
 * between them, deduplicated, reproducible from a seed.
 *
 * Boundary states: the start (nothing applied), right before every flush (everything since the
 * previous one lost, or all of it kept), right after every zone command (durable at once), and
 * the end. Sampled states: a random point with a random per-zone prefix (prefix:SEED). Two
 * states with the same zones, data and last mark are one state; the first found keeps its id
 * (boundaries before samples, samples in the order drawn). When --max-states is smaller than the
 * boundaries, a quarter of it still goes to sampled states and the boundaries are spread evenly.
 */
import { LOSS_ALL, LOSS_NONE, LossPolicy } from '../engine/loss-policy.js';
import { TraceOp } from '../store/trace.js';
import { CrashState, Replayer, StateKind, TraceModel, formatStateId } from './model.js';

export interface Candidate {
  id: string;
  point: number;
  policy: LossPolicy;
  kind: StateKind;
}

export interface Plan {
  /** Chosen states, boundaries first, each group by crash point. */
  chosen: Candidate[];
  boundaries: number;
  sampled: number;
  /** Candidates dropped because an earlier one gives the same state. */
  duplicates: number;
  /** Unique boundary states left out because of --max-states. */
  boundariesLeftOut: number;
}

/** A small seeded PRNG (mulberry32): the same seed gives the same states. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const DURABLE_OPS = new Set<number>([TraceOp.MANAGE, TraceOp.ZONE_FAULT, TraceOp.CLEAR_FAULT, TraceOp.SET_EXT, TraceOp.RECOMMEND]);

function boundaryCandidates(model: TraceModel): Candidate[] {
  const n = model.ops.length;
  const out: Candidate[] = [];
  const add = (point: number, policy: LossPolicy): void => {
    out.push({ id: formatStateId({ point, policy }), point, policy, kind: 'boundary' });
  };
  add(0, LOSS_NONE);
  model.ops.forEach((r, i) => {
    if (r.op === TraceOp.FLUSH) {
      add(i, LOSS_NONE);
      add(i, LOSS_ALL);
    } else if (DURABLE_OPS.has(r.op)) {
      add(i + 1, LOSS_NONE);
    }
  });
  add(n, LOSS_NONE);
  add(n, LOSS_ALL);
  return out;
}

function sampleCandidates(model: TraceModel, seed: number, count: number): Candidate[] {
  const n = model.ops.length;
  const rnd = prng(seed);
  const out: Candidate[] = [];
  if (n === 0) return out;
  for (let i = 0; i < count; i++) {
    const point = 1 + Math.floor(rnd() * n);
    const policy: LossPolicy = { kind: 'prefix', seed: Math.floor(rnd() * 4294967296) };
    out.push({ id: formatStateId({ point, policy }), point, policy, kind: 'sampled' });
  }
  return out;
}

/** Compute every candidate's state once (in crash-point order) and call `each` with it. */
export function walkStates(model: TraceModel, candidates: Candidate[], each: (c: Candidate, s: CrashState) => void): void {
  const order = candidates.map((c, i) => [c, i] as const).sort((a, b) => a[0].point - b[0].point || a[1] - b[1]);
  const r = new Replayer(model);
  for (const [c] of order) {
    r.advanceTo(c.point);
    each(c, r.capture(c.policy, c.kind));
  }
}

export function planStates(model: TraceModel, opts: { seed: number; maxStates: number }): Plan {
  const max = Math.max(0, opts.maxStates);
  const bounds = boundaryCandidates(model);
  // Draw more samples than can be used: many land on a state already seen.
  const samples = sampleCandidates(model, opts.seed, Math.max(2 * max, 16));
  const all = [...bounds, ...samples];
  const rank = new Map<Candidate, number>(all.map((c, i) => [c, i]));
  const signature = new Map<Candidate, string>();
  walkStates(model, all, (c, s) => signature.set(c, s.signature));
  // In priority order (boundaries, then samples as drawn): the first candidate of a state wins.
  const seen = new Set<string>();
  const unique: Candidate[] = [];
  let duplicates = 0;
  for (const c of all) {
    const sig = signature.get(c)!;
    if (seen.has(sig)) {
      // Samples drawn beyond what is needed do not count as skipped.
      if (c.kind === 'boundary' || unique.length < max) duplicates++;
      continue;
    }
    seen.add(sig);
    unique.push(c);
  }
  let uBounds = unique.filter((c) => c.kind === 'boundary');
  const uSamples = unique.filter((c) => c.kind === 'sampled');
  let left = 0;
  // Too many boundaries for --max-states: a quarter goes to sampled states all the same, the
  // rest to an even spread of boundaries over the trace (both ends included).
  const room = uSamples.length > 0 ? max - Math.min(uSamples.length, Math.floor(max / 4)) : max;
  if (uBounds.length > room) {
    left = uBounds.length - room;
    const pick: Candidate[] = [];
    for (let i = 0; i < room; i++) pick.push(uBounds[room === 1 ? 0 : Math.round((i * (uBounds.length - 1)) / (room - 1))]!);
    uBounds = [...new Set(pick)];
  }
  const chosenSamples = uSamples.slice(0, Math.max(0, max - uBounds.length));
  const byPoint = (a: Candidate, b: Candidate): number => a.point - b.point || rank.get(a)! - rank.get(b)!;
  return {
    chosen: [...uBounds.sort(byPoint), ...chosenSamples.sort(byPoint)],
    boundaries: uBounds.length,
    sampled: chosenSamples.length,
    duplicates,
    boundariesLeftOut: left,
  };
}
