/**
 * A small tmpfs for tests of a backing file system that fills up (needs root). Mounted in a fresh
 * temporary directory; the daemons a test starts through it are stopped, then it is unmounted and
 * removed, pass or fail.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Daemon } from './mount.js';

export const isRoot = process.getuid?.() === 0;

export interface Tmpfs {
  /** Temporary directory holding the tmpfs mount point `fs` and anything else (mount points, logs). */
  dir: string;
  /** The tmpfs itself. */
  fs: string;
  /** A daemon for `store`, mounted at `mnt`, stopped before the tmpfs goes away. */
  daemon(store: string, mnt: string): Daemon;
  /** Fill the tmpfs with a filler file until ENOSPC, leaving `spare` bytes free; returns its path. */
  fill(spare?: number): string;
  /** Bytes free on the tmpfs. */
  free(): number;
}

/** Append to `file` until it holds `max` bytes or the file system is full (ENOSPC). */
function writeUntilFull(file: string, max: number): void {
  const fd = fs.openSync(file, 'w');
  try {
    let size = 0;
    for (const chunk of [Buffer.alloc(64 * 1024, 1), Buffer.alloc(4096, 1)]) {
      try {
        while (size < max) size += fs.writeSync(fd, chunk, 0, Math.min(chunk.length, max - size));
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
      }
    }
  } finally {
    fs.closeSync(fd);
  }
}

export async function withTmpfs<T>(size: string, fn: (t: Tmpfs) => Promise<T>): Promise<T> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zonefuse-tmpfs-'));
  const mnt = path.join(dir, 'fs');
  fs.mkdirSync(mnt);
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0755`, 'zonefuse-test', mnt], { encoding: 'utf8' });
  if (r.status !== 0) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw new Error(`mount -t tmpfs failed: ${r.stderr}`);
  }
  const daemons: Daemon[] = [];
  let fillers = 0;
  const t: Tmpfs = {
    dir,
    fs: mnt,
    daemon(store, at) {
      const d = new Daemon(store, at);
      daemons.push(d);
      return d;
    },
    fill(spare = 0) {
      const reserve = path.join(mnt, `.reserve-${fillers}`);
      const filler = path.join(mnt, `.filler-${fillers++}`);
      // Hold `spare` bytes (or what is left) aside, fill the rest, then give the spare back.
      if (spare > 0) writeUntilFull(reserve, spare);
      writeUntilFull(filler, Infinity);
      if (spare > 0) fs.rmSync(reserve);
      return filler;
    },
    free() {
      const s = fs.statfsSync(mnt);
      return s.bavail * s.bsize;
    },
  };
  try {
    return await fn(t);
  } finally {
    for (const d of daemons) {
      try {
        await d.stop();
      } catch {
        // the hard cleanup below
      }
      d.cleanup();
    }
    if (spawnSync('umount', [mnt]).status !== 0) spawnSync('umount', ['-l', mnt]);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
