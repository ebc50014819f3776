/**
 * Per-namespace mount state shared by its namespace file, zone files and control files:
 * modification times, staged partial LBAs, the `errors` log and the refusal helpers.
 */
import { Rejection, ERRNO } from '../engine/status.js';
import { StoredNamespace } from '../store/stored-namespace.js';
import { Logger } from '../log.js';
import { ErrorLog } from './error-log.js';
import { StageHost, StageTable } from './staging.js';
import { E, errnoName } from './errno.js';

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
  private readonly debug: boolean;

  constructor(readonly name: string, readonly ns: StoredNamespace, now: number, readonly log: Logger) {
    this.zoneMtime = new Float64Array(ns.engine.nrZones).fill(now);
    this.mtime = now;
    this.debug = log.isLevelEnabled('debug');
  }

  get zonesDir(): string {
    return this.name + '.zones';
  }

  touch(zone: number, now = Date.now()): void {
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

  /** A file-interface refusal that is not a device status. */
  refuse(why: string, errno = E.EINVAL): number {
    const name = errnoName(errno);
    this.errors.add(`${why} errno=${name}`);
    this.log.info({ ns: this.name, errno: name }, why);
    return -errno;
  }
}
