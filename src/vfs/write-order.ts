/**
 * Per-zone write plugging (PRODUCT.md §9): writes of one sequential zone take effect in
 * write-pointer order even when the kernel delivers them out of order.
 *
 * With asynchronous direct I/O and parallel direct writes, one writer's requests can overtake
 * each other on their way to the daemon (an io_uring or libaio writer at iodepth 8 and more, or
 * several threads sharing a zone). A direct write to the namespace file that lands ahead of its
 * zone's write pointer is therefore held, not refused, while earlier requests may still fill the
 * gap: it runs as soon as the write pointer reaches it (a write filling the gap releases every
 * held write it makes contiguous, in LBA order), as Linux's zone write plugging does for zoned
 * drives. A write that is really misplaced still fails with Zone Invalid Write, promptly:
 * - when nothing fills the gap within HOLD_MS (each held write has its own time);
 * - at once when the gap is larger than the kernel can have in flight (MAX_GAP_BYTES), or
 *   when the namespace already holds MAX_HELD writes (each held write keeps a request buffer);
 * - before any flush, fsync, zone management, control command or close of the namespace:
 *   a write is never held across them (they see the device as it is).
 * A held write is not acknowledged, so a crash loses nothing that was acknowledged.
 */
import { Status } from '../engine/status.js';
import { StoredNamespace } from '../store/stored-namespace.js';
import { Logger } from '../log.js';

/** How long a write ahead of the write pointer waits for the requests before it. */
export const HOLD_MS = 30;
/** The most a held write may be ahead: what the kernel can have in flight (64 requests of 1 MiB). */
export const MAX_GAP_BYTES = 64 * 1024 * 1024;
/** Held writes per namespace at most. */
export const MAX_HELD = 48;

/** Runs a write now (the normal path, which may refuse it) and returns bytes or -errno. */
export type RunWrite = (w: HeldWrite) => number;

export interface HeldWrite {
  readonly fh: number;
  readonly buf: Buffer;
  readonly len: number;
  /** Byte offset in the namespace. */
  readonly pos: number;
  readonly lba: number;
  readonly zone: number;
  /** Answers the request: called once, with bytes written or -errno. */
  readonly done: (token: unknown, result: number) => void;
  readonly token: unknown;
  /** Date.now() when it was held. */
  readonly since: number;
}

export class WritePlugs {
  /** Held writes by zone, each list in LBA order. */
  private readonly byZone = new Map<number, HeldWrite[]>();
  private count = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly ns: StoredNamespace, private readonly run: RunWrite, private readonly log: Logger) {}

  get held(): number {
    return this.count;
  }

  /**
   * Whether a direct write of `len` bytes at byte `pos` should be held: it lands ahead of the
   * write pointer of a sequential-write-required zone, close enough for in-flight requests to
   * fill the gap, and everything else about it is acceptable.
   */
  shouldHold(pos: number, len: number): boolean {
    const e = this.ns.engine;
    const lbaSize = this.ns.lbaSize;
    if (!e.zoned || e.geometry.zoneModel !== 'host-managed' || pos % lbaSize !== 0 || len % lbaSize !== 0) return false;
    const lba = pos / lbaSize;
    const z = e.zoneOf(lba);
    if (z < 0 || e.isConventional(z) || this.count >= MAX_HELD) return false;
    const wp = e.wpOf(z);
    if (lba <= wp || (lba - wp) * lbaSize > MAX_GAP_BYTES) return false;
    const r = e.checkWrite(lba, len / lbaSize);
    return r !== undefined && r.status === Status.ZONE_INVALID_WRITE;
  }

  hold(w: HeldWrite): void {
    let list = this.byZone.get(w.zone);
    if (!list) {
      list = [];
      this.byZone.set(w.zone, list);
    }
    let i = list.length;
    while (i > 0 && list[i - 1]!.lba > w.lba) i--;
    list.splice(i, 0, w);
    this.count++;
    this.rearm();
  }

  /**
   * After a write pointer moved: run the held writes that now sit at it (and, failing at once,
   * those it has moved past).
   */
  advance(): void {
    if (this.count === 0) return;
    const e = this.ns.engine;
    for (const [z, list] of this.byZone) {
      while (list.length > 0) {
        const w = list[0]!;
        if (w.lba > e.wpOf(z)) break;
        list.shift();
        this.count--;
        this.finish(w);
      }
      if (list.length === 0) this.byZone.delete(z);
    }
    this.rearm();
  }

  /** Run every held write now, in LBA order per zone (those still ahead fail: Zone Invalid Write). */
  settle(): void {
    if (this.count === 0) return;
    const lists = [...this.byZone.values()];
    this.byZone.clear();
    this.count = 0;
    this.rearm();
    for (const list of lists) for (const w of list) this.finish(w);
  }

  /** Run a held write and answer it; neither may disturb the request that released it. */
  private finish(w: HeldWrite): void {
    let r: number;
    try {
      r = this.run(w);
    } catch (e) {
      this.log.error({ err: e, pos: w.pos, len: w.len }, 'internal error in a held write; answering EIO');
      r = -5; // EIO
    }
    try {
      w.done(w.token, r);
    } catch (e) {
      this.log.error({ err: e }, 'answering a held write failed');
    }
  }

  /** Held writes older than HOLD_MS run now (and fail if still ahead); the others keep waiting. */
  private expire(): void {
    this.timer = undefined;
    const now = Date.now();
    for (const [z, list] of this.byZone) {
      for (let i = 0; i < list.length;) {
        const w = list[i]!;
        if (now - w.since < HOLD_MS) {
          i++;
          continue;
        }
        list.splice(i, 1);
        this.count--;
        this.finish(w);
      }
      if (list.length === 0) this.byZone.delete(z);
    }
    this.advance();
    this.rearm();
  }

  /** While writes are held, look at them every third of HOLD_MS. */
  private rearm(): void {
    if (this.count === 0 && this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    } else if (this.count > 0 && !this.timer) {
      this.timer = setTimeout(() => this.expire(), Math.ceil(HOLD_MS / 3));
      this.timer.unref?.();
    }
  }
}
