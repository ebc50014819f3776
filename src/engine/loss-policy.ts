/**
 * What a power loss with the volatile write cache on keeps of the writes acknowledged since the
 * last flush (PRODUCT.md §13). One place for the rule, used by the store's power cycle and by
 * `zonefuse crashtest` when it builds crash states, so a state `P:prefix:S` of a crash test is
 * exactly what `ctl power-cycle keep=prefix:S` does at that point.
 *
 *   none          every unflushed write is lost (the default)
 *   all           every acknowledged write survives
 *   prefix:SEED   per sequential zone, a prefix of its unflushed writes survives (its length drawn
 *                 from SEED and the zone: none, some or all); per conventional LBA, either the
 *                 newest unflushed write or the pre-image (drawn from SEED and the LBA)
 *
 * Zone management is durable and is never undone by any policy. Other sources of unflushed
 * data (a ZRWA's contents) ask the same two questions of the policy.
 */

export type LossPolicy = { kind: 'none' } | { kind: 'all' } | { kind: 'prefix'; seed: number };

export const LOSS_NONE: LossPolicy = Object.freeze({ kind: 'none' });
export const LOSS_ALL: LossPolicy = Object.freeze({ kind: 'all' });

export class LossPolicyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LossPolicyError';
  }
}

/** Parse `none`, `all` or `prefix:SEED` (SEED a decimal integer below 2^32). */
export function parseLossPolicy(text: string): LossPolicy {
  if (text === 'none') return LOSS_NONE;
  if (text === 'all') return LOSS_ALL;
  const m = /^prefix:(0|[1-9][0-9]*)$/.exec(text);
  if (m && Number(m[1]) <= 0xffffffff) return { kind: 'prefix', seed: Number(m[1]) };
  throw new LossPolicyError(`the loss policy must be none, all or prefix:SEED (SEED an integer 0..4294967295), not "${text}"`);
}

export function formatLossPolicy(p: LossPolicy): string {
  return p.kind === 'prefix' ? `prefix:${p.seed}` : p.kind;
}

/** A 32-bit hash of two words (murmur3's finaliser over a simple combination). */
function mix(a: number, b: number): number {
  let h = (a ^ Math.imul(b + 0x9e3779b9, 0x85ebca6b)) >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * How many of the `unflushed` writes of sequential zone `zone` (in the order the device took
 * them) survive. With prefix:SEED every count 0..unflushed is equally likely.
 */
export function survivingWrites(p: LossPolicy, zone: number, unflushed: number): number {
  if (unflushed <= 0 || p.kind === 'none') return 0;
  if (p.kind === 'all') return unflushed;
  return mix(mix(p.seed, 0x5a4f4e45), zone) % (unflushed + 1);
}

/** Whether conventional LBA `lba` keeps its newest unflushed write (else its pre-image). */
export function keepsLba(p: LossPolicy, lba: number): boolean {
  if (p.kind !== 'prefix') return p.kind === 'all';
  // LBAs can exceed 2^32: fold the high word in.
  const hi = Math.floor(lba / 0x100000000);
  return (mix(mix(mix(p.seed, 0x434f4e56), lba >>> 0), hi) & 1) === 1;
}
