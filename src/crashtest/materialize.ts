/**
 * Turn a crash state into the files of a namespace (`NAME.zmeta`, `NAME.data`) without copying
 * the data image:
 *
 * - reflink: where the file system shares blocks (btrfs, XFS with reflink, bcachefs), the data
 *   file is a copy-on-write clone of the final image (FICLONE: no data moves); then what the
 *   state holds differently is written over it (saved pre-images) or punched out (data the
 *   state does not have, e.g. above a zone's rolled-back write pointer).
 * - sparse: elsewhere (ext4, tmpfs), a new sparse file of the namespace's capacity into which
 *   only the ranges holding data in the state are copied; holes stay holes. The cost is the
 *   live data of the state, never the image size.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { allocatedRanges, punchHole } from '../native/libc.js';
import { writeFully } from '../store/io.js';
import { Flag } from '../store/format.js';
import { CrashState, FINAL, Piece, TraceModel, writeStateHeader } from './model.js';

export type CloneMethod = 'reflink' | 'sparse';

export interface MaterializeStats {
  /** Bytes written into the state's data file (copied or from saved pre-images). */
  bytesWritten: number;
  /** Bytes punched out of a reflinked clone. */
  bytesPunched: number;
}

/** Does `dir`'s file system clone files (FICLONE)? Probed with two small files. */
export function reflinkWorks(dir: string): boolean {
  const a = path.join(dir, `.reflink-probe-${process.pid}-a`);
  const b = path.join(dir, `.reflink-probe-${process.pid}-b`);
  try {
    fs.writeFileSync(a, Buffer.alloc(4096, 1));
    fs.copyFileSync(a, b, fs.constants.COPYFILE_FICLONE_FORCE);
    return true;
  } catch {
    return false;
  } finally {
    fs.rmSync(a, { force: true });
    fs.rmSync(b, { force: true });
  }
}

export class Materializer {
  readonly method: CloneMethod;
  private readonly finalFd: number;
  private readonly blobsFd: number;
  /** Allocated ranges of the final image, ascending. */
  private readonly finalData: Array<[number, number]>;
  private readonly buf = Buffer.alloc(1 << 20);

  constructor(private readonly model: TraceModel, readonly finalImage: string, workDir: string, method?: CloneMethod) {
    this.method = method ?? (reflinkWorks(workDir) ? 'reflink' : 'sparse');
    this.finalFd = fs.openSync(finalImage, 'r');
    this.blobsFd = fs.openSync(model.files.blobs, 'r');
    this.finalData = allocatedRanges(this.finalFd, 0, model.capacity);
  }

  close(): void {
    fs.closeSync(this.finalFd);
    fs.closeSync(this.blobsFd);
  }

  /**
   * Write the state as namespace `name` in `dir` (replacing any files of that name). With
   * `detached`, the sidecar is marked detached, ready for a running daemon's `attach`.
   */
  write(state: CrashState, dir: string, name: string, opts: { detached?: boolean } = {}): MaterializeStats {
    const data = path.join(dir, `${name}.data`);
    const meta = path.join(dir, `${name}.zmeta`);
    const tmp = data + '.tmp';
    const stats: MaterializeStats = { bytesWritten: 0, bytesPunched: 0 };
    fs.rmSync(tmp, { force: true });
    if (this.method === 'reflink') {
      fs.copyFileSync(this.finalImage, tmp, fs.constants.COPYFILE_FICLONE_FORCE);
      const fd = fs.openSync(tmp, 'r+');
      try {
        this.patchClone(fd, state.pieces, stats);
      } finally {
        fs.closeSync(fd);
      }
    } else {
      const fd = fs.openSync(tmp, 'w', 0o644);
      try {
        fs.ftruncateSync(fd, this.model.capacity);
        for (const p of state.pieces) {
          if (p.src === FINAL) this.copyFinal(fd, p.offset, p.offset + p.length, stats);
          else this.copyBlob(fd, p, stats);
        }
      } finally {
        fs.closeSync(fd);
      }
    }
    fs.renameSync(tmp, data);
    let m = state.meta;
    if (opts.detached) {
      m = Buffer.from(m);
      writeStateHeader(m, { ...state.header, flags: state.header.flags | Flag.DETACHED });
    }
    fs.writeFileSync(meta + '.tmp', m);
    fs.renameSync(meta + '.tmp', meta);
    fs.rmSync(path.join(dir, `${name}.undo`), { force: true });
    return stats;
  }

  /** Copy the final image's allocated bytes in [a, b) (holes stay holes). */
  private copyFinal(fd: number, a: number, b: number, stats: MaterializeStats): void {
    for (const [d0, d1] of this.dataIn(a, b)) {
      for (let pos = d0; pos < d1;) {
        const n = Math.min(this.buf.length, d1 - pos);
        const got = fs.readSync(this.finalFd, this.buf, 0, n, pos);
        if (got <= 0) break;
        writeFully(fd, this.buf, 0, got, pos);
        stats.bytesWritten += got;
        pos += got;
      }
    }
  }

  private copyBlob(fd: number, p: Piece, stats: MaterializeStats): void {
    for (let done = 0; done < p.length;) {
      const n = Math.min(this.buf.length, p.length - done);
      const got = fs.readSync(this.blobsFd, this.buf, 0, n, p.src + done);
      if (got < n) throw new Error(`${this.model.files.blobs} is truncated (a saved pre-image is missing)`);
      writeFully(fd, this.buf, 0, n, p.offset + done);
      stats.bytesWritten += n;
      done += n;
    }
  }

  /** Allocated ranges of the final image intersected with [a, b). */
  private dataIn(a: number, b: number): Array<[number, number]> {
    const out: Array<[number, number]> = [];
    const r = this.finalData;
    let lo = 0;
    let hi = r.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (r[mid]![1] <= a) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < r.length && r[i]![0] < b; i++) out.push([Math.max(a, r[i]![0]), Math.min(b, r[i]![1])]);
    return out;
  }

  /**
   * A clone holds the whole final image: keep its data only where the state takes it from the
   * final image, write the saved pre-images, punch out the rest.
   */
  private patchClone(fd: number, pieces: Piece[], stats: MaterializeStats): void {
    const punch = (a: number, b: number): void => {
      for (const [d0, d1] of this.dataIn(a, b)) {
        punchHole(fd, d0, d1 - d0);
        stats.bytesPunched += d1 - d0;
      }
    };
    let pos = 0;
    for (const p of pieces) {
      punch(pos, p.offset);
      if (p.src !== FINAL) {
        punch(p.offset, p.offset + p.length); // a pre-image shorter than the old data's blocks
        this.copyBlob(fd, p, stats);
      }
      pos = p.offset + p.length;
    }
    punch(pos, this.model.capacity);
  }
}
