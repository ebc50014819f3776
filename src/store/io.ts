/** Whole-buffer pread/pwrite (the sidecar and the data file are only ever accessed this way). */
import * as fs from 'node:fs';

/**
 * Write all of buf[off, off+len) at pos. A failure (ENOSPC after a short write, EIO) is thrown
 * with `bytesWritten` set on the error: how much of the buffer reached the file before it.
 */
export function writeFully(fd: number, buf: Uint8Array, off: number, len: number, pos: number): void {
  let written = 0;
  try {
    while (len > 0) {
      const n = fs.writeSync(fd, buf, off, len, pos);
      off += n;
      len -= n;
      pos += n;
      written += n;
    }
  } catch (e) {
    if (e instanceof Error) Object.assign(e, { bytesWritten: written });
    throw e;
  }
}

/** Read len bytes at pos; anything past the end of the file reads as zeros. */
export function readFully(fd: number, buf: Uint8Array, off: number, len: number, pos: number): void {
  while (len > 0) {
    const n = fs.readSync(fd, buf, off, len, pos);
    if (n === 0) {
      buf.fill(0, off, off + len);
      return;
    }
    off += n;
    len -= n;
    pos += n;
  }
}

export function fsyncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
