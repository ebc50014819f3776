/**
 * What the emulated device's volatile write cache holds (docs/format.md §9.5): per zone the write
 * pointer as of the last flush (the durable write pointer, what survives a power loss), the zones
 * written since, and the undo log of overwrites. The cache's on/off flag lives in the header.
 */
import { ZonedNamespace } from '../engine/namespace.js';
import { ZoneAttr } from '../engine/zone.js';
import { LossPolicy, survivingWrites } from '../engine/loss-policy.js';
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
  /**
   * Per dirty zone, the write pointer after each of its writes since the last flush, in order:
   * what a power loss that keeps a prefix of them can stop at.
   */
  readonly unflushed = new Map<number, number[]>();
  /** ZRWA namespaces: beside each entry of `unflushed`, the window's data end after that write. */
  readonly unflushedWindow = new Map<number, number[]>();
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

  /** Zone z's record as loaded: its durable state, and whether it holds cached writes. */
  load(z: number, durableWp: number, wp: number, durableZrwaEnd: number, zrwaEnd: number): void {
    this.durable[z] = durableWp;
    const zrwa = this.durableZrwa.length > 0;
    if (zrwa) this.durableZrwa[z] = durableZrwaEnd;
    if (durableWp < wp || (zrwa && zrwaEnd > durableZrwaEnd)) {
      // The single writes are not on disk: what is cached counts as one write.
      this.dirty.add(z);
      this.unflushed.set(z, [wp]);
      if (zrwa) this.unflushedWindow.set(z, [zrwaEnd]);
    }
  }

  /** Everything cached became durable or was lost. */
  clear(): void {
    this.dirty.clear();
    this.unflushed.clear();
    this.unflushedWindow.clear();
    this.overwritten.clear();
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
   * The write pointer each zone keeps through a power loss under `policy`: its durable one,
   * moved up over the prefix of its unflushed writes the policy keeps.
   */
  survivors(policy: LossPolicy): Float64Array {
    return keptAfterLoss(this.durable, this.unflushed, policy);
  }

  /**
   * ZRWA zones: the window data end each keeps under `policy`, after the same prefix of its
   * unflushed writes as survivors() (-1: no ZRWA kept). Empty without ZRWA support.
   */
  windowSurvivors(policy: LossPolicy): Float64Array {
    return keptAfterLoss(this.durableZrwa, this.unflushedWindow, policy);
  }

  /**
   * The engine changed `zones`: with `durable` (zone management, or the cache off) their durable
   * state catches up with the current one; otherwise written zones become dirty, and each write
   * that moved the write pointer (or a ZRWA window's end) is remembered for prefix losses.
   */
  track(engine: ZonedNamespace, zones: number[], durable: boolean): void {
    const zrwa = this.durableZrwa.length > 0;
    for (const z of zones) {
      if (durable) {
        this.settle(engine, z);
        if (this.dirty.delete(z)) {
          this.unflushed.delete(z);
          this.unflushedWindow.delete(z);
        }
        continue;
      }
      const wp = engine.wpOf(z);
      const end = zrwa ? engine.zrwaEndOf(z) : wp;
      if (!(this.durable[z]! < wp) && !(zrwa && end > this.durableZrwa[z]!)) continue;
      this.dirty.add(z);
      const ends = this.unflushed.get(z);
      const windows = zrwa ? this.unflushedWindow.get(z) : undefined;
      if (!ends) {
        this.unflushed.set(z, [wp]);
        if (zrwa) this.unflushedWindow.set(z, [end]);
      } else if (ends[ends.length - 1] !== wp || (windows && windows[windows.length - 1] !== end)) {
        ends.push(wp);
        windows?.push(end);
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

/** Per zone the durable value, moved up to where the prefix of its unflushed writes `policy` keeps ends. */
function keptAfterLoss(durable: Float64Array, unflushed: Map<number, number[]>, policy: LossPolicy): Float64Array {
  const kept = Float64Array.from(durable);
  for (const [z, ends] of unflushed) {
    const k = survivingWrites(policy, z, ends.length);
    if (k > 0) kept[z] = Math.max(kept[z]!, ends[k - 1]!);
  }
  return kept;
}
