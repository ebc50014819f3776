/**
 * What the emulated device's volatile write cache holds (docs/format.md §9.5): per zone the write
 * pointer as of the last flush (the durable write pointer, what survives a power loss), the zones
 * written since, and the undo log of overwrites. The cache's on/off flag lives in the header.
 */
import { ZonedNamespace } from '../engine/namespace.js';
import { ZoneAttr } from '../engine/zone.js';
import { Flag, Header } from './format.js';
import { UndoLog } from './undo-log.js';

export class VolatileCache {
  /** Per zone: the write pointer as of the last flush (what survives a power loss). */
  readonly durable: Float64Array;
  /**
   * ZRWA namespaces, per zone: the window's data end as of the last flush, or -1 when the zone
   * held no ZRWA then (empty array without ZRWA support).
   */
  readonly durableZrwa: Float64Array;
  /** Zones whose durable LBAs were overwritten since the last flush (pre-images in the undo log). */
  readonly overwritten = new Set<number>();
  /** Zones written since the last flush (volatile cache on). */
  readonly dirty = new Set<number>();
  readonly undo: UndoLog;

  constructor(nrZones: number, undoPath: string, dataPath: string, private readonly header: Header) {
    this.durable = new Float64Array(nrZones);
    this.durableZrwa = new Float64Array(header.geometry.zrwas !== 0 ? nrZones : 0).fill(-1);
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
  load(z: number, durableWp: number, wp: number, durableZrwaEnd: number, zrwaEnd: number): void {
    this.durable[z] = durableWp;
    if (this.durableZrwa.length) this.durableZrwa[z] = durableZrwaEnd;
    if (durableWp < wp || (this.durableZrwa.length && zrwaEnd > durableZrwaEnd)) this.dirty.add(z);
  }

  /** The zone's current state becomes its durable state (a flush, or zone management). */
  settle(engine: ZonedNamespace, z: number): void {
    this.durable[z] = engine.wpOf(z);
    if (this.durableZrwa.length) this.durableZrwa[z] = (engine.attrsOf(z) & ZoneAttr.ZRWAV) !== 0 ? engine.zrwaEndOf(z) : -1;
  }

  /** End of the zone's durable data: the durable write pointer, or its durable window's end. */
  durableEnd(z: number): number {
    return this.durableZrwa.length ? Math.max(this.durable[z]!, this.durableZrwa[z]!) : this.durable[z]!;
  }

  /**
   * The engine changed `zones`: with `durable` (zone management, or the cache off) their durable
   * write pointers catch up with the write pointers; otherwise written zones become dirty.
   */
  track(engine: ZonedNamespace, zones: number[], durable: boolean): void {
    for (const z of zones) {
      if (durable) {
        this.settle(engine, z);
        this.dirty.delete(z);
      } else if (this.durable[z]! < engine.wpOf(z) || (this.durableZrwa.length && engine.zrwaEndOf(z) > this.durableZrwa[z]!)) {
        this.dirty.add(z);
      }
    }
  }

  /**
   * Host-aware (SWP) zones take writes below their write pointer, and ZRWA zones inside their
   * window: with the cache on, the durable LBAs such a write overwrites are saved so that a
   * power loss can undo it.
   */
  saveOverwrittenDurable(engine: ZonedNamespace, dataFd: number, lbaSize: number, slba: number, nlb: number): void {
    const z = engine.zoneOf(slba);
    const durableEnd = this.durableEnd(z);
    if (slba >= durableEnd) return;
    const n = Math.min(nlb, durableEnd - slba);
    this.undo.save(dataFd, slba * lbaSize, n * lbaSize);
    this.overwritten.add(z);
  }
}
