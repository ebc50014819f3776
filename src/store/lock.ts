/**
 * One owner per store. The lock is a flock() on STORE/.zonefuse.lock, so the kernel releases it
 * when the owner dies however it dies; the file's content names the owner for error messages
 * and lets the next owner say that it recovered a stale lock.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { flockExclusiveNonBlocking, flockUnlock } from '../native/libc.js';

export const LOCK_FILE = '.zonefuse.lock';

export interface LockOwner {
  pid: number;
  host: string;
  command: string;
  since: string;
}

export class StoreBusyError extends Error {
  constructor(readonly dir: string, readonly owner: LockOwner | undefined) {
    super(
      owner
        ? `store ${dir} is in use by pid ${owner.pid} on ${owner.host} (${owner.command}, since ${owner.since})`
        : `store ${dir} is in use by another process`,
    );
    this.name = 'StoreBusyError';
  }
}

function readOwner(fd: number): LockOwner | undefined {
  try {
    const size = fs.fstatSync(fd).size;
    if (size === 0 || size > 4096) return undefined;
    const buf = Buffer.alloc(size);
    fs.readSync(fd, buf, 0, size, 0);
    const o = JSON.parse(buf.toString('utf8')) as LockOwner;
    return typeof o.pid === 'number' ? o : undefined;
  } catch {
    return undefined;
  }
}

export class StoreLock {
  private constructor(private fd: number, readonly path: string, readonly staleOwner: LockOwner | undefined) {}

  /**
   * Take the lock or throw StoreBusyError naming the owner. `staleOwner` is set when the
   * previous owner died without releasing its claim (its record was still in the file).
   */
  static acquire(dir: string, command: string): StoreLock {
    const file = path.join(dir, LOCK_FILE);
    const fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o644);
    try {
      if (!flockExclusiveNonBlocking(fd)) throw new StoreBusyError(dir, readOwner(fd));
      const stale = readOwner(fd);
      const me: LockOwner = { pid: process.pid, host: os.hostname(), command, since: new Date().toISOString() };
      const text = Buffer.from(JSON.stringify(me) + '\n');
      fs.ftruncateSync(fd, 0);
      fs.writeSync(fd, text, 0, text.length, 0);
      return new StoreLock(fd, file, stale);
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
  }

  /** Who holds the store now, without taking it (for read-only tools). */
  static owner(dir: string): LockOwner | undefined {
    let fd: number;
    try {
      fd = fs.openSync(path.join(dir, LOCK_FILE), fs.constants.O_RDWR);
    } catch {
      return undefined;
    }
    try {
      if (flockExclusiveNonBlocking(fd)) {
        flockUnlock(fd);
        return undefined;
      }
      return readOwner(fd) ?? { pid: -1, host: '?', command: '?', since: '?' };
    } finally {
      fs.closeSync(fd);
    }
  }

  release(): void {
    if (this.fd < 0) return;
    try {
      fs.ftruncateSync(this.fd, 0);
      flockUnlock(this.fd);
    } finally {
      fs.closeSync(this.fd);
      this.fd = -1;
    }
  }
}
