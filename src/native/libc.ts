/**
 * Tiny libc bindings (through koffi) for the few syscalls Node does not expose:
 *
 * - `fallocate(FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE)`: a zone reset must give the backing
 *   blocks back without changing the backing file's size. Node has no fallocate at all.
 * - `lseek(SEEK_DATA / SEEK_HOLE)`: find which parts of a sparse backing file are allocated;
 *   `lseek(SEEK_CUR)`: where an O_APPEND write landed. Node's fs API never exposes lseek.
 * - `flock(LOCK_EX | LOCK_NB)`: keep two daemons from opening the same backing store. Node has no
 *   advisory file locks.
 *
 * libc.so.6 is loaded lazily, once, on the first call. Every wrapper is synchronous. On failure
 * it throws an Error shaped like Node's own fs errors: `.code` (e.g. 'EOPNOTSUPP'), `.errno`
 * (the positive Linux errno), `.syscall`. EINTR is retried.
 *
 * Linux/glibc x86-64 and arm64 only: off_t is 64 bits there, so offsets are bound as int64_t and
 * may exceed 2^32 (JS numbers are exact up to 2^53).
 */
import koffi from 'koffi';
import { constants as osConstants } from 'node:os';

/** Linux <linux/falloc.h> */
const FALLOC_FL_KEEP_SIZE = 0x01;
const FALLOC_FL_PUNCH_HOLE = 0x02;
/** Linux <unistd.h> lseek whence values */
const SEEK_CUR = 1;
const SEEK_DATA = 3;
const SEEK_HOLE = 4;
/** <sys/file.h> */
const LOCK_EX = 2;
const LOCK_NB = 4;
const LOCK_UN = 8;

const EINTR = osConstants.errno.EINTR;
const ENXIO = osConstants.errno.ENXIO;
const EWOULDBLOCK = osConstants.errno.EWOULDBLOCK; // == EAGAIN on Linux

export interface LibcError extends Error {
  /** Symbolic name, e.g. 'EOPNOTSUPP', 'EBADF', 'ENXIO'. */
  code: string;
  /** Positive Linux errno. */
  errno: number;
  syscall: string;
}

interface Libc {
  fallocate: (fd: number, mode: number, offset: number, len: number) => number;
  lseek: (fd: number, offset: number, whence: number) => number;
  flock: (fd: number, op: number) => number;
  strerror: (errnum: number) => string;
}

let libc: Libc | undefined;

function lib(): Libc {
  if (libc === undefined) {
    const h = koffi.load('libc.so.6');
    libc = {
      fallocate: h.func('int fallocate(int fd, int mode, int64_t offset, int64_t len)'),
      lseek: h.func('int64_t lseek(int fd, int64_t offset, int whence)'),
      flock: h.func('int flock(int fd, int operation)'),
      strerror: h.func('const char *strerror(int errnum)'),
    };
  }
  return libc;
}

/**
 * errno → name. Several names share a number on Linux; prefer the ones the project uses
 * (EOPNOTSUPP over ENOTSUP, EAGAIN over EWOULDBLOCK, EDEADLK over EDEADLOCK).
 */
let errnoNames: Map<number, string> | undefined;
function errnoName(errno: number): string {
  if (errnoNames === undefined) {
    errnoNames = new Map();
    const preferred = ['EOPNOTSUPP', 'EAGAIN', 'EDEADLK'];
    const table = osConstants.errno as Record<string, number>;
    for (const name of preferred) if (table[name] !== undefined) errnoNames.set(table[name], name);
    for (const [name, num] of Object.entries(table)) if (!errnoNames.has(num)) errnoNames.set(num, name);
  }
  return errnoNames.get(errno) ?? `E${errno}`;
}

function libcError(syscall: string, errno: number): LibcError {
  const code = errnoName(errno);
  const err = new Error(`${code}: ${lib().strerror(errno)}, ${syscall}`) as LibcError;
  err.code = code;
  err.errno = errno;
  err.syscall = syscall;
  return err;
}

/**
 * Runs `call` and returns its result, or the positive errno as `{ errno }` when it returned -1.
 * errno is read right after the call (koffi saves it per call); EINTR is retried.
 */
function sys(call: () => number): number | { errno: number } {
  for (;;) {
    const r = call();
    if (r !== -1) return r;
    const errno = koffi.errno();
    if (errno !== EINTR) return { errno };
  }
}

function check(syscall: string, r: number | { errno: number }): number {
  if (typeof r === 'number') return r;
  throw libcError(syscall, r.errno);
}

/**
 * Deallocates [offset, offset+length) of the file: reads of that range return zeros afterwards
 * and the file size is unchanged. Partial blocks at the edges are zeroed, not freed.
 * Throws EOPNOTSUPP if the file system cannot punch holes.
 */
export function punchHole(fd: number, offset: number, length: number): void {
  const f = lib().fallocate;
  check('fallocate', sys(() => f(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, length)));
}

/**
 * The first offset ≥ `offset` that holds data, or -1 if there is no data at or after `offset`
 * (ENXIO, which includes `offset` ≥ file size). Moves the fd's file position (harmless for
 * positional fs.readSync/writeSync).
 */
export function seekData(fd: number, offset: number): number {
  const f = lib().lseek;
  const r = sys(() => f(fd, offset, SEEK_DATA));
  if (typeof r !== 'number' && r.errno === ENXIO) return -1;
  return check('lseek(SEEK_DATA)', r);
}

/**
 * The first offset ≥ `offset` that starts a hole. Every file ends in an implicit hole at its
 * size, so the result is ≤ file size. Throws ENXIO if `offset` ≥ file size.
 * Moves the fd's file position.
 */
export function seekHole(fd: number, offset: number): number {
  const f = lib().lseek;
  return check('lseek(SEEK_HOLE)', sys(() => f(fd, offset, SEEK_HOLE)));
}

/**
 * The fd's current file position (lseek(fd, 0, SEEK_CUR)): after an O_APPEND write, minus the
 * bytes written, it tells where a zone append landed. Node has no lseek.
 */
export function currentPosition(fd: number): number {
  const f = lib().lseek;
  return check('lseek(SEEK_CUR)', sys(() => f(fd, 0, SEEK_CUR)));
}

/**
 * The allocated (data) ranges of the file within [start, end), as half-open [from, to) pairs,
 * clipped to [start, end), in increasing order. The granularity is the file system's (usually
 * 4 KiB blocks); a file system without hole support reports everything up to EOF as data.
 */
export function allocatedRanges(fd: number, start: number, end: number): Array<[number, number]> {
  const ranges: Array<[number, number]> = [];
  let pos = start;
  while (pos < end) {
    const data = seekData(fd, pos);
    if (data < 0 || data >= end) break;
    const hole = seekHole(fd, data);
    ranges.push([data, Math.min(hole, end)]);
    pos = hole;
  }
  return ranges;
}

/**
 * Tries to take an exclusive advisory flock(2) on the fd without blocking. Returns false when
 * another open file description holds a conflicting lock (EWOULDBLOCK). The lock belongs to the
 * open file description: it lasts until flockUnlock() or until every fd sharing it is closed.
 */
export function flockExclusiveNonBlocking(fd: number): boolean {
  const f = lib().flock;
  const r = sys(() => f(fd, LOCK_EX | LOCK_NB));
  if (typeof r !== 'number' && r.errno === EWOULDBLOCK) return false;
  check('flock', r);
  return true;
}

/** Releases a flock(2) taken on this fd's open file description. */
export function flockUnlock(fd: number): void {
  const f = lib().flock;
  check('flock', sys(() => f(fd, LOCK_UN)));
}
