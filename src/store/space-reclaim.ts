/**
 * Freeing the data file's space (fallocate PUNCH_HOLE) where a zone holds no data any more: after
 * a reset in the background, and at once after a power loss or an unclean shutdown. A punch that
 * fails costs only space (reads above a write pointer return zeros regardless): it is reported,
 * not thrown, and that zone's freeing is given up.
 */
import { ZoneState } from '../engine/zone.js';
import { ZonedNamespace } from '../engine/namespace.js';
import { allocatedRanges, punchHole } from '../native/libc.js';
import { Logger } from '../log.js';
import { Sidecar } from './sidecar.js';
import { BackingStoreError, FailureReporter, isSystemError } from './backing-error.js';

/** How much of a reset zone one background step frees (about 1-3 ms of file-system work). */
const PUNCH_CHUNK = 8 * 1024 * 1024;
/** Delay before the first background step after a reset (see schedulePunchStep). */
const PUNCH_DELAY_MS = 3;

export class SpaceReclaimer {
  private punchWarned = false;
  /** Reset zones whose space is still being freed: zone → next byte to free. */
  private readonly pendingPunch = new Map<number, number>();
  private punchScheduled = false;
  private punchSynced = false;
  private stopped = false;
  private readonly lbaSize: number;
  private readonly zoneBytes: number;

  constructor(
    private readonly engine: ZonedNamespace,
    private readonly dataFd: number,
    private readonly sidecar: Sidecar,
    private readonly dataPath: string,
    private readonly failures: FailureReporter,
    private readonly log: Logger,
  ) {
    this.lbaSize = engine.geometry.lbaSize;
    this.zoneBytes = engine.geometry.zoneSize;
  }

  /**
   * Free the space of zones that are now Empty, in the background: deallocating 64 MiB takes the
   * file system 10-20 ms, which would otherwise be the latency of every reset. The freeing runs
   * on the event loop in chunks, right after the reset is answered, and never below a zone's
   * current write pointer (so new writes are safe); stat, flush and close wait for it.
   */
  punchZones(zones: number[]): void {
    for (const z of zones) {
      if (this.engine.stateOf(z) === ZoneState.EMPTY) this.pendingPunch.set(z, z * this.zoneBytes);
    }
    if (this.pendingPunch.size > 0) this.schedulePunchStep();
  }

  /** Free one chunk of a pending zone; reschedules itself while work remains. */
  private punchStep(): void {
    if (this.stopped || this.pendingPunch.size === 0) return;
    if (!this.punchSynced) {
      // The reset's record must be on disk before its data is freed: otherwise a host crash
      // could keep the old write pointer over data already gone.
      try {
        this.sidecar.sync();
      } catch (e) {
        // Freeing now could lose data a host crash would bring back: give the pending zones up.
        this.pendingPunch.clear();
        if (e instanceof BackingStoreError) this.failures.report(e);
        else throw e;
        return;
      }
      this.punchSynced = true;
    }
    const [z, cursor] = this.pendingPunch.entries().next().value as [number, number];
    const zoneEnd = (z + 1) * this.zoneBytes;
    const start = Math.max(cursor, z * this.zoneBytes + this.engine.dataLbas(z) * this.lbaSize);
    const stop = Math.min(zoneEnd, start + PUNCH_CHUNK);
    const ok = start >= stop || this.punch(start, stop - start);
    if (stop >= zoneEnd || !ok) this.pendingPunch.delete(z);
    else this.pendingPunch.set(z, stop);
    if (this.pendingPunch.size === 0) this.punchSynced = false;
    else this.schedulePunchStep();
  }

  private schedulePunchStep(): void {
    if (this.punchScheduled) return;
    this.punchScheduled = true;
    const step = (): void => {
      this.punchScheduled = false;
      this.punchStep();
    };
    // The first step waits PUNCH_DELAY_MS: libfuse answers truncate(2) only after a getattr it
    // sends once the truncate handler has returned, and with setImmediate that getattr queues
    // behind the first chunk (measured: 5-7 ms per 64 MiB reset instead of 1-2 ms).
    if (!this.punchSynced) setTimeout(step, PUNCH_DELAY_MS);
    else setImmediate(step);
  }

  /** Finish freeing reset zones now (before reporting allocation, flushing or closing). */
  drain(): void {
    while (this.pendingPunch.size > 0 && !this.stopped) this.punchStep();
  }

  /** No more background work (the namespace is closing). */
  stop(): void {
    this.stopped = true;
  }

  /** Discard data that was written above each zone's (rolled back) write pointer. */
  punchZonesAbove(oldDataEnd: Map<number, number>): void {
    if (oldDataEnd.size === 0) return;
    this.sidecar.sync();
    const lba = this.lbaSize;
    for (const [z, end] of oldDataEnd) {
      // The data end: the write pointer, or for a ZRWA zone the end of the window's data.
      const from = (this.engine.zoneStart(z) + this.engine.dataLbas(z)) * lba;
      if (end * lba > from) this.punch(from, end * lba - from);
    }
  }

  /**
   * After a crash, data above a write pointer belongs to writes that were never acknowledged.
   * Punch it out so the image matches what the device reports (reads above the write pointer
   * return zeros either way). One SEEK_DATA per sequential zone; returns the zones scrubbed.
   */
  discardAboveWritePointers(): number {
    const e = this.engine;
    let scrubbed = 0;
    for (let z = e.convZones; z < e.nrZones; z++) {
      const from = z * this.zoneBytes + e.dataLbas(z) * this.lbaSize;
      const end = (z + 1) * this.zoneBytes;
      if (from >= end) continue;
      const ranges = allocatedRanges(this.dataFd, from, end);
      if (ranges.length === 0) continue;
      for (const [a, b] of ranges) this.punch(a, b - a);
      scrubbed++;
    }
    return scrubbed;
  }

  /** Punch [offset, offset+length); false when the file system refused. */
  private punch(offset: number, length: number): boolean {
    try {
      punchHole(this.dataFd, offset, length);
      return true;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EOPNOTSUPP' || code === 'ENOSYS') {
        if (!this.punchWarned) {
          this.punchWarned = true;
          this.log.warn({ file: this.dataPath, errno: code }, `${this.dataPath}: cannot punch holes (${code}); reset zones keep their disk space`);
        }
      } else if (isSystemError(e)) {
        this.failures.report(new BackingStoreError(this.dataPath, 'punch', e));
      } else {
        throw e;
      }
      return false;
    }
  }
}
