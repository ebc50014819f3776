/**
 * Freeing the data file's space (fallocate PUNCH_HOLE) where a zone holds no data any more: when
 * a zone is reset (PRODUCT.md §1: the space is free when the reset returns, `du` shows it, as
 * with zloop's truncate and QEMU's zeroing), after a power loss, and after an unclean shutdown.
 * A punch that fails costs only space (reads above a write pointer return zeros regardless): it
 * is reported, not thrown.
 */
import { ZoneState } from '../engine/zone.js';
import { ZonedNamespace } from '../engine/namespace.js';
import { allocatedRanges, punchHole } from '../native/libc.js';
import { Logger } from '../log.js';
import { Sidecar } from './sidecar.js';
import { BackingStoreError, FailureReporter, isSystemError } from './backing-error.js';

export class SpaceReclaimer {
  private punchWarned = false;
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
   * Free the space of those of `zones` that are now Empty (just reset, or a fault cleared),
   * before the command is answered. Their records were written; they are synced first, so that
   * a host crash cannot keep an old write pointer over data already freed (docs/format.md §9.1).
   * Deallocating a full 64 MiB zone costs the file system 5-75 ms (most with `discard`, for data
   * already written back): the price of `du` being true.
   */
  punchZones(zones: number[]): void {
    const e = this.engine;
    const empty = zones.filter((z) => e.stateOf(z) === ZoneState.EMPTY);
    if (empty.length === 0) return;
    try {
      this.sidecar.sync();
    } catch (err) {
      // Freeing now could lose data a host crash would bring back: keep the space.
      if (err instanceof BackingStoreError) this.failures.report(err);
      else throw err;
      return;
    }
    for (const z of empty) {
      const start = z * this.zoneBytes + e.dataLbas(z) * this.lbaSize;
      const end = (z + 1) * this.zoneBytes;
      if (start < end) this.punch(start, end - start);
    }
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
