/**
 * What the emulated device's volatile write cache holds (docs/format.md §9.5): per zone the write
 * pointer as of the last flush (the durable write pointer, what survives a power loss), the zones
 * written since, and the undo log of overwrites. The cache's on/off flag lives in the header.
 */
import { ZonedNamespace } from '../engine/namespace.js';
import { Flag, Header } from './format.js';
import { UndoLog } from './undo-log.js';

export class VolatileCache {
  /** Per zone: the write pointer as of the last flush (what survives a power loss). */
  readonly durable: Float64Array;
  /** Zones written since the last flush (volatile cache on). */
  readonly dirty = new Set<number>();
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
    if (durableWp < wp) this.dirty.add(z);
  }

  /**
   * The engine changed `zones`: with `durable` (zone management, or the cache off) their durable
   * write pointers catch up with the write pointers; otherwise written zones become dirty.
   */
  track(engine: ZonedNamespace, zones: number[], durable: boolean): void {
    for (const z of zones) {
      if (durable) {
        this.durable[z] = engine.wpOf(z);
        this.dirty.delete(z);
      } else if (this.durable[z]! < engine.wpOf(z)) {
        this.dirty.add(z);
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
