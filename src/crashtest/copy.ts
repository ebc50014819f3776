/**
 * A private copy of one namespace of a stopped store, for crashtest to run the workload on:
 * the user's store is only read (never locked, opened for writing or modified). The data image
 * is cloned where the file system can (reflink), else copied sparsely (allocated ranges only).
 */
import * as fs from 'node:fs';
import { StoreLock } from '../store/lock.js';
import { StoredNamespace, namespacePaths } from '../store/stored-namespace.js';
import { allocatedRanges } from '../native/libc.js';
import { writeFully } from '../store/io.js';

export class CopyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CopyError';
  }
}

/** Copy the allocated ranges of `src` into a new sparse file `dst` of the same size. */
export function sparseCopy(src: string, dst: string): number {
  try {
    fs.copyFileSync(src, dst, fs.constants.COPYFILE_FICLONE_FORCE);
    return 0;
  } catch {
    // no reflink here: copy the data, not the holes
  }
  const inFd = fs.openSync(src, 'r');
  const outFd = fs.openSync(dst, 'w', 0o644);
  let copied = 0;
  try {
    const size = fs.fstatSync(inFd).size;
    fs.ftruncateSync(outFd, size);
    const buf = Buffer.alloc(1 << 20);
    for (const [a, b] of allocatedRanges(inFd, 0, size)) {
      for (let pos = a; pos < b;) {
        const n = fs.readSync(inFd, buf, 0, Math.min(buf.length, b - pos), pos);
        if (n <= 0) break;
        writeFully(outFd, buf, 0, n, pos);
        pos += n;
        copied += n;
      }
    }
    fs.fsyncSync(outFd);
  } finally {
    fs.closeSync(inFd);
    fs.closeSync(outFd);
  }
  return copied;
}

/** Copy namespace `name` of `storeDir` into the new directory `dst`. */
export function copyNamespace(storeDir: string, name: string, dst: string): void {
  const owner = StoreLock.owner(storeDir);
  if (owner) {
    throw new CopyError(`store ${storeDir} is in use by pid ${owner.pid} (${owner.command}): crashtest copies a stopped store; unmount it first`);
  }
  // Validates the header (a clear error for a damaged or foreign file) before copying anything.
  StoredNamespace.peekHeader(storeDir, name);
  const from = namespacePaths(storeDir, name);
  const to = namespacePaths(dst, name);
  fs.mkdirSync(dst, { recursive: true });
  fs.copyFileSync(from.meta, to.meta);
  if (fs.existsSync(from.undo)) fs.copyFileSync(from.undo, to.undo);
  sparseCopy(from.data, to.data);
  if (StoreLock.owner(storeDir)) throw new CopyError(`store ${storeDir} was mounted while crashtest copied it: run again once it is stopped`);
}
