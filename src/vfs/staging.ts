/**
 * Page-cache rules for buffered (non-O_DIRECT) writers of sequential zones: whole LBAs are
 * committed as they fill; a trailing partial LBA is staged per zone and committed, zero-padded,
 * at flush/fsync/close of a handle that wrote to it (PRODUCT.md §4, §5).
 */
import { Rejection, Status } from '../engine/status.js';
import { ZoneAttr } from '../engine/zone.js';
import { StoredNamespace } from '../store/stored-namespace.js';
import { Logger } from '../log.js';
import { E } from './errno.js';

/** Whoever wrote to a stage: an open handle (compared by identity only). */
export type StageWriter = object;

/** Uncommitted bytes of a partial LBA written by buffered writers to a sequential zone. */
export interface Stage {
  zone: number;
  /** Absolute byte offset of the LBA being filled. */
  start: number;
  len: number;
  buf: Buffer;
  writers: Set<StageWriter>;
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
  private readonly stages = new Map<number, Stage>();

  constructor(private readonly host: StageHost) {}

  get size(): number {
    return this.stages.size;
  }

  get(zone: number): Stage | undefined {
    return this.stages.get(zone);
  }

  drop(zone: number): void {
    this.stages.delete(zone);
  }

  clear(): void {
    this.stages.clear();
  }

  /**
   * Buffered write of buf[off, off+len) at absolute byte p of sequential zone z: complete the
   * staged partial LBA, commit whole LBAs, stage the new tail. Returns bytes accepted or -errno.
   */
  write(writer: StageWriter, z: number, p: number, buf: Buffer, off: number, len: number, zoneFile: boolean): number {
    const host = this.host;
    const ns = host.ns;
    const e = ns.engine;
    const lba = ns.lbaSize;
    let st = this.stages.get(z);
    const expected = st ? st.start + st.len : e.wpOf(z) * lba;
    // A ZRWA zone takes whole LBAs anywhere in its window: the engine checks where.
    const inZrwa = !st && (e.attrsOf(z) & ZoneAttr.ZRWAV) !== 0 && p % lba === 0;
    if (p !== expected && !inZrwa) {
      const detail = `buffered write at byte ${p} of zone ${z}, but the zone continues at byte ${expected}`;
      if (zoneFile) return host.refuse(detail, E.EINVAL);
      return host.rejected({ status: Status.ZONE_INVALID_WRITE, op: 'write', zone: z, lba: Math.floor(p / lba), wp: e.wpOf(z), detail });
    }
    let done = 0;
    if (st) {
      const take = Math.min(lba - st.len, len);
      buf.copy(st.buf, st.len, off, off + take);
      st.len += take;
      st.writers.add(writer);
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
      st = { zone: z, start: tailAt, len: tail, buf: Buffer.alloc(lba), writers: new Set([writer]) };
      buf.copy(st.buf, 0, off + done, off + done + tail);
      this.stages.set(z, st);
      host.touch(z);
      done += tail;
    }
    return done;
  }

  /**
   * Zero-pad and commit a staged LBA. If the file system fails the write, the stage stays (a
   * later flush or close tries again) and the error is thrown.
   */
  commit(st: Stage): number {
    const host = this.host;
    this.stages.delete(st.zone);
    st.buf.fill(0, st.len);
    const lba = host.ns.lbaSize;
    let r;
    try {
      r = host.ns.write(st.start / lba, st.buf, 0, lba);
    } catch (e) {
      this.stages.set(st.zone, st);
      throw e;
    }
    if (r) return host.rejected(r);
    host.wrote(st.zone, st.start, lba);
    return 0;
  }

  /** Commit every stage `writer` wrote to; returns the first error. */
  commitFor(writer: StageWriter): number {
    if (this.stages.size === 0) return 0;
    let result = 0;
    for (const st of [...this.stages.values()]) {
      if (!st.writers.has(writer)) continue;
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

  /** Show staged (not yet committed) bytes to readers, as a page cache would. */
  overlay(buf: Buffer, pos: number, len: number): void {
    for (const st of this.stages.values()) {
      const a = Math.max(pos, st.start);
      const b = Math.min(pos + len, st.start + st.len);
      if (a < b) st.buf.copy(buf, a - pos, a - st.start, b - st.start);
    }
  }
}
