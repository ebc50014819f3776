/**
 * Page-cache rules for buffered (non-O_DIRECT) writers of sequential zones (PRODUCT.md §4, §5):
 * whole LBAs are committed as they fill; a trailing partial LBA is staged and committed,
 * zero-padded, at flush/fsync/close of the handle that wrote it, as kernel writeback would.
 *
 * A stage is host-side cache private to the handle that wrote it: it never changes what another
 * handle may do or sees. The device's write pointer stays the truth: another handle may write
 * at it, after which the stage is stale, cannot be committed, and its handle's fsync/close fails
 * with the device's refusal while the device's data is kept.
 */
import { NvmeStatus, Rejection, Status } from '../engine/status.js';
import { ZoneAttr } from '../engine/zone.js';
import { StoredNamespace } from '../store/stored-namespace.js';
import { Logger } from '../log.js';
import { E } from './errno.js';

/** What the device answers for a write to a zone in a state that takes none, whatever its LBA. */
const ZONE_STATE_REFUSALS: ReadonlySet<NvmeStatus> = new Set([Status.ZONE_FULL, Status.ZONE_READ_ONLY, Status.ZONE_OFFLINE]);

/** The handle a stage belongs to (compared by identity only). */
export type StageOwner = object;

/** Uncommitted bytes of a partial LBA a buffered handle wrote to a sequential zone. */
export interface Stage {
  readonly owner: StageOwner;
  readonly zone: number;
  /** Absolute byte offset of the LBA being filled. */
  readonly start: number;
  len: number;
  readonly buf: Buffer;
}

/** What the stage table needs from its namespace: the store, refusals and bookkeeping. */
export interface StageHost {
  readonly name: string;
  readonly ns: StoredNamespace;
  readonly log: Logger;
  rejected(r: Rejection): number;
  refuse(why: string, errno: number): number;
  wrote(z: number, pos: number, len: number): void;
  touch(z: number): void;
  failed(e: unknown): number;
  writeFailed(e: unknown, z: number, pos: number, done: number): number;
}

export class StageTable {
  /** Few at a time (one per buffered handle with a partial tail): a list beats a map here. */
  private stages: Stage[] = [];

  constructor(private readonly host: StageHost) {}

  get size(): number {
    return this.stages.length;
  }

  /** The stage `owner` is filling in zone z, if any. */
  get(owner: StageOwner, z: number): Stage | undefined {
    for (const st of this.stages) if (st.owner === owner && st.zone === z) return st;
    return undefined;
  }

  /** Still committable: it begins at the device's write pointer. */
  current(st: Stage): boolean {
    const e = this.host.ns.engine;
    return st.start === e.wpOf(st.zone) * e.lbaSize;
  }

  /** Forget every stage of zone z (a reset, finish or fault makes them moot). */
  dropZone(z: number): void {
    if (this.stages.length > 0) this.stages = this.stages.filter((st) => st.zone !== z);
  }

  clear(): void {
    this.stages = [];
  }

  private remove(st: Stage): void {
    const i = this.stages.indexOf(st);
    if (i >= 0) this.stages.splice(i, 1);
  }

  /**
   * Buffered write of buf[off, off+len) at absolute byte p of sequential zone z through `owner`:
   * complete its staged partial LBA, commit whole LBAs, stage the new tail. Returns bytes
   * accepted or -errno. The namespace file answers as the device would for the same request:
   * the zone's state (Full, Read Only, Offline) before the position, then boundary and limits.
   */
  write(owner: StageOwner, z: number, p: number, buf: Buffer, off: number, len: number, zoneFile: boolean): number {
    const host = this.host;
    const ns = host.ns;
    const e = ns.engine;
    const lba = ns.lbaSize;
    let st = this.get(owner, z);
    const expected = st ? st.start + st.len : e.wpOf(z) * lba;
    // A ZRWA zone takes whole LBAs anywhere in its window: the engine checks where.
    const inZrwa = !st && (e.attrsOf(z) & ZoneAttr.ZRWAV) !== 0 && p % lba === 0;
    if (p !== expected && !inZrwa) {
      if (!zoneFile) {
        const r = e.checkWrite(Math.floor(p / lba), 1);
        if (r && ZONE_STATE_REFUSALS.has(r.status)) return host.rejected(r);
      }
      const detail = `buffered write at byte ${p} of zone ${z}, but the zone continues at byte ${expected}` +
        (st ? ' (where this handle staged a partial LBA)' : '');
      if (zoneFile) return host.refuse(detail, E.EINVAL);
      return host.rejected({ status: Status.ZONE_INVALID_WRITE, op: 'write', zone: z, lba: Math.floor(p / lba), wp: e.wpOf(z), detail });
    }
    let done = 0;
    if (st) {
      const take = Math.min(lba - st.len, len);
      buf.copy(st.buf, st.len, off, off + take);
      st.len += take;
      done = take;
      if (st.len === lba) {
        let r: number;
        try {
          r = this.commit(st);
        } catch (err) {
          // The stage is kept as it was before this write, which stored nothing.
          st.len -= take;
          return host.writeFailed(err, z, st.start, 0);
        }
        if (r < 0) return r;
      }
      if (done === len) return done;
    }
    const rest = len - done;
    const whole = rest - (rest % lba);
    const at = p + done;
    if (whole > 0) {
      let r;
      try {
        r = ns.write(at / lba, buf, off + done, whole);
      } catch (err) {
        return host.writeFailed(err, z, at, done);
      }
      if (r) return done > 0 ? done : host.rejected(r);
      host.wrote(z, at, whole);
      done += whole;
    }
    const tail = rest - whole;
    if (tail > 0) {
      const tailAt = at + whole;
      // Check now that the LBA could be written, so the error comes with this write.
      const r = e.checkWrite(tailAt / lba, 1);
      if (r) return done > 0 ? done : host.rejected(r);
      st = { owner, zone: z, start: tailAt, len: tail, buf: Buffer.alloc(lba) };
      buf.copy(st.buf, 0, off + done, off + done + tail);
      this.stages.push(st);
      host.touch(z);
      done += tail;
    }
    return done;
  }

  /**
   * Zero-pad and commit a staged LBA; a stale stage gets the device's refusal. If the file
   * system under the store fails the write, the stage stays (a later flush or close tries again)
   * and the error is thrown.
   */
  commit(st: Stage): number {
    const host = this.host;
    this.remove(st);
    st.buf.fill(0, st.len);
    const lba = host.ns.lbaSize;
    let r;
    try {
      r = host.ns.write(st.start / lba, st.buf, 0, lba);
    } catch (e) {
      this.stages.push(st);
      throw e;
    }
    if (r) {
      return host.rejected({
        ...r,
        detail: `${r.detail}; ${st.len} bytes this handle staged at byte ${st.start} are dropped` +
          (this.current(st) ? '' : ' (the zone was written through another handle meanwhile)'),
      });
    }
    host.wrote(st.zone, st.start, lba);
    return 0;
  }

  /** Commit every stage of `owner`; returns the first error. */
  commitFor(owner: StageOwner): number {
    if (this.stages.length === 0) return 0;
    let result = 0;
    for (const st of this.stages.filter((s) => s.owner === owner)) {
      try {
        const r = this.commit(st);
        if (r < 0 && result === 0) result = r;
      } catch (e) {
        let r: number;
        try {
          r = this.host.failed(e);
        } catch {
          this.host.log.error({ err: e, ns: this.host.name }, 'committing a partial LBA failed');
          r = -E.EIO;
        }
        if (result === 0) result = r;
      }
    }
    return result;
  }

  /** Show `owner`'s own committable staged bytes to its reads, as a page cache would. */
  overlay(owner: StageOwner, buf: Buffer, pos: number, len: number): void {
    for (const st of this.stages) {
      if (st.owner !== owner || !this.current(st)) continue;
      const a = Math.max(pos, st.start);
      const b = Math.min(pos + len, st.start + st.len);
      if (a < b) st.buf.copy(buf, a - pos, a - st.start, b - st.start);
    }
  }
}
