/**
 * Per-namespace mount state shared by its namespace file, zone files and control files:
 * modification times, staged partial LBAs, the `errors` log and the refusal helpers, and what a
 * failure of the file system under the store becomes (PRODUCT.md §12).
 */
import { Rejection, ERRNO } from '../engine/status.js';
import { BackingStoreError, StoredNamespace } from '../store/stored-namespace.js';
import { Logger } from '../log.js';
import { ErrorLog } from './error-log.js';
import { StageHost, StageTable } from './staging.js';
import { RunWrite, WritePlugs } from './write-order.js';
import { E, errnoName } from './errno.js';
import { ZoneChangeTracker } from './zone-changes.js';

export class MountedNamespace implements StageHost {
  readonly errors = new ErrorLog();
  readonly zoneMtime: Float64Array;
  mtime: number;
  readonly stages: StageTable = new StageTable(this);
  /** st_blocks of conventional zone files, computed on demand, dropped on write. */
  readonly convBlocks = new Map<number, number>();
  /** Bumped by a power cycle: handles opened before it fail with EIO, like a device that went away. */
  generation = 0;
  /** Detached or deleted: every handle still open on it fails with EIO. */
  gone = false;
  /** Direct writes held until their zone's write pointer reaches them (write-order.ts). */
  readonly plugs: WritePlugs;
  /** Orders every change the mount makes to the namespace: zones.bin's generation and change sequence numbers. */
  readonly changes: ZoneChangeTracker;
  private readonly debug: boolean;

  constructor(readonly name: string, readonly ns: StoredNamespace, now: number, readonly log: Logger, runWrite: RunWrite) {
    this.plugs = new WritePlugs(ns, runWrite, log);
    this.zoneMtime = new Float64Array(ns.engine.nrZones).fill(now);
    this.mtime = now;
    this.debug = log.isLevelEnabled('debug');
    this.changes = new ZoneChangeTracker(ns.engine.nrZones);
    ns.onZoneRecordsWritten((zones) => this.changes.changed(zones));
    ns.onBackgroundFailure((e) => void this.failed(e));
    // The device changes zones on its own (timers, excursions): each change is an events line,
    // and readers of zones.bin and the file times must see it like any other change.
    ns.events.onAppend(() => this.touch(-1));
  }

  get zonesDir(): string {
    return this.name + '.zones';
  }

  touch(zone: number, now = Date.now()): void {
    this.changes.bump();
    this.mtime = now;
    if (zone >= 0) this.zoneMtime[zone] = now;
  }

  /** Bookkeeping after data was stored at [pos, pos+len) (zone z, or -1 when not zoned). */
  wrote(z: number, pos: number, len: number): void {
    this.touch(z);
    if (z >= 0 && this.ns.engine.zoned && this.ns.engine.isConventional(z)) {
      // A write may span conventional zones: forget all cached block counts it touched.
      const zb = this.ns.zoneBytes;
      for (let c = Math.floor(pos / zb); c <= Math.floor((pos + len - 1) / zb); c++) this.convBlocks.delete(c);
    }
    if (this.debug) this.log.debug({ ns: this.name, op: 'write', pos, len }, 'write');
  }

  /** Debug trace of a read, when enabled. */
  traceRead(pos: number, len: number): void {
    if (this.debug) this.log.debug({ ns: this.name, op: 'read', pos, len }, 'read');
  }

  /** A device refusal: log it, add it to `errors`, return its errno. */
  rejected(r: Rejection, errno?: number): number {
    const code = errno ?? ERRNO[r.status.errno];
    const name = errnoName(code);
    this.errors.addRejection(r, name);
    this.log.info({ ns: this.name, op: r.op, zone: r.zone, lba: r.lba, wp: r.wp, status: r.status.name, code: r.status.code, errno: name },
      `${r.op} refused: ${r.status.name}: ${r.detail}`);
    return -code;
  }

  /**
   * The file system under the store failed an operation (ENOSPC, EDQUOT, EIO): one `errors` line
   * and one error-level log line naming the file, the operation and the error; returns the bytes
   * the request stored before the failure when there are any (a short write, acknowledged),
   * otherwise -errno. Anything that is not such a failure is a bug and is thrown on.
   */
  failed(e: unknown): number {
    if (!(e instanceof BackingStoreError)) throw e;
    const stored = e.stored > 0 ? `; ${e.stored} bytes of the request were stored` : '';
    this.errors.add(`${e.message}${stored} errno=${e.code}`);
    this.log.error({ ns: this.name, file: e.file, op: e.op, errno: e.code, stored: e.stored }, `${e.message}${stored}`);
    return e.stored > 0 ? e.stored : -e.errno;
  }

  /**
   * A store write at byte `pos` of zone z (-1: not zoned) failed after `done` bytes of the same
   * request were stored: account for what the failed call still stored, then as failed().
   */
  writeFailed(e: unknown, z: number, pos: number, done: number): number {
    if (!(e instanceof BackingStoreError)) throw e;
    if (e.stored > 0) this.wrote(z, pos, e.stored);
    e.stored += done;
    return this.failed(e);
  }

  /** A file-interface refusal that is not a device status. */
  refuse(why: string, errno = E.EINVAL): number {
    const name = errnoName(errno);
    this.errors.add(`${why} errno=${name}`);
    this.log.info({ ns: this.name, errno: name }, why);
    return -errno;
  }
}
