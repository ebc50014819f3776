/**
 * What the emulated device's volatile write cache holds (docs/format.md §9.5): per zone the write
 * pointer as of the last flush (the durable write pointer, what survives a power loss), the zones
 * written since, and the undo log of overwrites. The cache's on/off flag lives in the header.
 */
import { ZonedNamespace } from '../engine/namespace.js';
import { LossPolicy, survivingWrites } from '../engine/loss-policy.js';
import { Flag, Header } from './format.js';
import { UndoLog } from './undo-log.js';

export class VolatileCache {
  /** Per zone: the write pointer as of the last flush (what survives a power loss). */
  readonly durable: Float64Array;
  /** Zones written since the last flush (volatile cache on). */
  readonly dirty = new Set<number>();
  /**
   * Per dirty zone, the write pointer after each of its writes since the last flush, in order:
   * what a power loss that keeps a prefix of them can stop at.
   */
  readonly unflushed = new Map<number, number[]>();
  readonly undo: UndoLog;

  constructor(nrZones: number, undoPath: string, dataPath: string, private readonly header: Header) {
    this.durable = new Float64Array(nrZones);
    this.undo = new UndoLog(undoPath, dataPath);
  }

  get on(): boolean {
    return (this.header.flags & Flag.VOLATILE_CACHE) !== 0;
  }

  set on(on: boolean) {
    if (on) this.header.flags |= Flag.VOLATILE_CACHE;
    else this.header.flags &= ~Flag.VOLATILE_CACHE;
  }

  /** Zone z's record as loaded: its durable write pointer, and whether it holds cached writes. */
  load(z: number, durableWp: number, wp: number): void {
    this.durable[z] = durableWp;
    if (durableWp < wp) {
      // The single writes are not on disk: what is cached counts as one write.
      this.dirty.add(z);
      this.unflushed.set(z, [wp]);
    }
  }

  /** Everything cached became durable or was lost. */
  clear(): void {
    this.dirty.clear();
    this.unflushed.clear();
  }

  /**
   * The write pointer each zone keeps through a power loss under `policy`: its durable one,
   * moved up over the prefix of its unflushed writes the policy keeps.
   */
  survivors(policy: LossPolicy): Float64Array {
    const kept = Float64Array.from(this.durable);
    for (const [z, ends] of this.unflushed) {
      const k = survivingWrites(policy, z, ends.length);
      if (k > 0) kept[z] = Math.max(kept[z]!, ends[k - 1]!);
    }
    return kept;
  }

  /**
   * The engine changed `zones`: with `durable` (zone management, or the cache off) their durable
   * write pointers catch up with the write pointers; otherwise written zones become dirty.
   */
  track(engine: ZonedNamespace, zones: number[], durable: boolean): void {
    for (const z of zones) {
      if (durable) {
        this.durable[z] = engine.wpOf(z);
        if (this.dirty.delete(z)) this.unflushed.delete(z);
      } else {
        const wp = engine.wpOf(z);
        if (!(this.durable[z]! < wp)) continue;
        this.dirty.add(z);
        const ends = this.unflushed.get(z);
        if (!ends) this.unflushed.set(z, [wp]);
        else if (ends[ends.length - 1] !== wp) ends.push(wp);
      }
    }
  }

  /**
   * Host-aware (SWP) zones take writes below their write pointer: with the cache on, the durable
   * LBAs such a write overwrites are saved so that a power loss can undo it.
   */
  saveOverwrittenDurable(engine: ZonedNamespace, dataFd: number, lbaSize: number, slba: number, nlb: number): void {
    const durableEnd = this.durable[engine.zoneOf(slba)]!;
    if (slba >= durableEnd) return;
    const n = Math.min(nlb, durableEnd - slba);
    this.undo.save(dataFd, slba * lbaSize, n * lbaSize);
  }
}
