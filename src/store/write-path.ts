/**
 * Reads and writes of a namespace's data (docs/format.md §9.1): the data pwrite, then the zone
 * record pwrite, then the acknowledgement. Both are in the kernel's page cache when the caller is
 * answered, so an acknowledged write survives kill -9 of the daemon.
 *
 * When the file system refuses (ENOSPC, EIO, ...), a BackingStoreError is thrown with what was
 * stored: a sequential write keeps the whole LBAs that landed (the write pointer moves over them
 * and nothing else), a conventional write the bytes that landed; nothing else changes.
 */
import { Rejection } from '../engine/status.js';
import { readFully, writeFully } from './io.js';
import { backingError, bytesWritten } from './backing-error.js';
import { commitLastChanges } from './commit.js';
import { readFault, writeFault } from './media-faults.js';
import { NamespaceCore } from './namespace-core.js';

/**
 * Read `length` bytes at byte `offset` into buf[at..]. Below a zone's write pointer the data,
 * above it zeros. Returns the byte count (short at the end of the namespace) or a Rejection
 * (offline zone, cross-zone read when those are off, injected media error).
 */
export function readData(ns: NamespaceCore, offset: number, buf: Uint8Array, at: number, length: number): Rejection | number {
  if (offset >= ns.capacity || length <= 0) return 0;
  const len = Math.min(length, ns.capacity - offset);
  const e = ns.engine;
  const lba = ns.lbaSize;
  const slba = Math.floor(offset / lba);
  const nlb = Math.ceil((offset + len) / lba) - slba;
  const r = e.checkRead(slba, nlb) ?? (ns.faults.active ? readFault(ns, slba, nlb) : undefined);
  if (r) return r;
  try {
    return e.zoned ? readZoned(ns, offset, buf, at, len) : (readFully(ns.dataFd, buf, at, len, offset), len);
  } catch (err) {
    throw backingError(ns.dataPath, 'read', err);
  }
}

function readZoned(ns: NamespaceCore, offset: number, buf: Uint8Array, at: number, len: number): number {
  const e = ns.engine;
  const lba = ns.lbaSize;
  let pos = offset;
  let done = 0;
  const end = offset + len;
  while (pos < end) {
    const z = Math.floor(pos / ns.zoneBytes);
    const zoneStart = z * ns.zoneBytes;
    const segEnd = Math.min(end, zoneStart + ns.zoneBytes);
    const dataEnd = zoneStart + e.dataLbas(z) * lba;
    const readable = Math.max(0, Math.min(dataEnd, segEnd) - pos);
    if (readable > 0) readFully(ns.dataFd, buf, at + done, readable, pos);
    const seg = segEnd - pos;
    if (seg > readable) buf.fill(0, at + done + readable, at + done + seg);
    done += seg;
    pos = segEnd;
  }
  return len;
}

/**
 * Write whole LBAs at slba (len must be a multiple of the LBA size). Data first, then the
 * zone record; returns once both are in the kernel's hands.
 */
export function writeLbas(ns: NamespaceCore, slba: number, buf: Uint8Array, at: number, len: number): Rejection | undefined {
  const e = ns.engine;
  if (!e.zoned || (slba < e.nlba && e.isConventional(e.zoneOf(slba)))) return writeRandom(ns, slba * ns.lbaSize, buf, at, len);
  const nlb = len / ns.lbaSize;
  const r = e.checkWrite(slba, nlb);
  if (r) return r;
  if (ns.faults.active) {
    const f = writeFault(ns, 'write', slba, nlb);
    if (f) {
      // A torn write first lands the LBAs before the bad one.
      if (f.good > 0) commitSequential(ns, slba, buf, at, f.good);
      return f.rejection;
    }
  }
  commitSequential(ns, slba, buf, at, nlb);
  return undefined;
}

function commitSequential(ns: NamespaceCore, slba: number, buf: Uint8Array, at: number, nlb: number): void {
  if (ns.cache.on) ns.cache.saveOverwrittenDurable(ns.engine, ns.dataFd, ns.lbaSize, slba, nlb);
  const len = nlb * ns.lbaSize;
  ns.trace?.preImage(ns.dataFd, slba * ns.lbaSize, len);
  const zone = ns.engine.zoneOf(slba);
  try {
    writeFully(ns.dataFd, buf, at, len, slba * ns.lbaSize);
  } catch (e) {
    throw keepLanded(ns, e, nlb, (n) => ns.engine.commitWrite(slba, n), (n) => ns.trace?.seqWrite(zone, slba, n, buf.subarray(at, at + n * ns.lbaSize)));
  }
  ns.engine.commitWrite(slba, nlb);
  commitLastChanges(ns);
  ns.trace?.seqWrite(zone, slba, nlb, buf.subarray(at, at + len));
}

/**
 * The data pwrite of nlb LBAs failed: commit (with `commit`) the whole LBAs that landed before
 * it, and return the error to throw, with them as stored.
 */
function keepLanded(ns: NamespaceCore, e: unknown, nlb: number, commit: (landed: number) => void, traced?: (landed: number) => void): unknown {
  const landed = Math.min(nlb - 1, Math.floor(bytesWritten(e) / ns.lbaSize));
  if (landed > 0) {
    commit(landed);
    commitLastChanges(ns);
    traced?.(landed);
  }
  return backingError(ns.dataPath, 'write', e, landed * ns.lbaSize);
}

/**
 * Write bytes anywhere in conventional space (conventional zones or a non-zoned namespace),
 * without LBA alignment: what a page cache would do for a buffered writer.
 */
export function writeRandom(ns: NamespaceCore, offset: number, buf: Uint8Array, at: number, len: number): Rejection | undefined {
  const lba = ns.lbaSize;
  const slba = Math.floor(offset / lba);
  const nlb = Math.ceil((offset + len) / lba) - slba;
  const e = ns.engine;
  if (e.zoned && slba < e.nlba && !e.isConventional(e.zoneOf(slba))) {
    throw new Error('writeRandom: offset is in a sequential zone');
  }
  // Refuses ranges outside the namespace and ranges that run into sequential space.
  const r = e.checkWrite(slba, nlb);
  if (r) return r;
  let n = len;
  let fault: Rejection | undefined;
  if (ns.faults.active) {
    const f = writeFault(ns, 'write', slba, nlb);
    if (f) {
      fault = f.rejection;
      n = f.good > 0 ? Math.max(0, (slba + f.good) * lba - offset) : 0;
    }
  }
  if (n > 0) {
    if (ns.cache.on) ns.cache.undo.save(ns.dataFd, offset, n);
    ns.trace?.preImage(ns.dataFd, offset, n);
    try {
      writeFully(ns.dataFd, buf, at, n, offset);
    } catch (err) {
      const landed = bytesWritten(err);
      if (landed > 0) ns.trace?.convWrite(offset, buf.subarray(at, at + landed));
      throw backingError(ns.dataPath, 'write', err, landed);
    }
    ns.trace?.convWrite(offset, buf.subarray(at, at + n));
  }
  return fault;
}

/** Zone Append of whole LBAs: returns the LBA where the data landed. */
export function appendLbas(ns: NamespaceCore, zone: number, buf: Uint8Array, at: number, len: number): Rejection | number {
  const nlb = len / ns.lbaSize;
  const lba = ns.engine.checkAppend(zone, nlb);
  if (typeof lba !== 'number') return lba;
  if (ns.faults.active) {
    const f = writeFault(ns, 'zone append', lba, nlb);
    if (f) {
      if (f.good > 0) commitSequential(ns, lba, buf, at, f.good);
      return f.rejection;
    }
  }
  ns.trace?.preImage(ns.dataFd, lba * ns.lbaSize, len);
  try {
    writeFully(ns.dataFd, buf, at, len, lba * ns.lbaSize);
  } catch (e) {
    throw keepLanded(ns, e, nlb, (n) => ns.engine.append(zone, n), (n) => ns.trace?.append(zone, lba, n, buf.subarray(at, at + n * ns.lbaSize)));
  }
  ns.engine.append(zone, nlb);
  commitLastChanges(ns);
  ns.trace?.append(zone, lba, nlb, buf.subarray(at, at + len));
  return lba;
}
