/**
 * Device-level operation trace of one namespace, for `zonefuse crashtest` (PRODUCT.md §13).
 *
 * Recorded by the store in the order the device applied the operations (only accepted ones; a
 * torn write is recorded as the write of the LBAs that landed), while `zonefuse mount --trace
 * DIR` runs. Three files per namespace in DIR:
 *
 *   NAME.base.zmeta  the sidecar as it was when recording began (after the power-up transition)
 *   NAME.trace       "ZFTRACE1", then one 40-byte little-endian record per operation
 *   NAME.blobs       data the final image cannot give back, deduplicated by content (SHA-256)
 *
 * Written data is recorded by content hash only: whatever of it survives to the end of the run
 * is read back from the final image. What an operation destroys is saved before it happens, as
 * a PRE_IMAGE record right before the operation: the old bytes of a conventional overwrite, of
 * a sequential write over data that was rolled back, and of a zone reset (up to its old write
 * pointer). So the content of any byte after any prefix of the trace is either the pre-image
 * saved by the next operation that changes it, or the final image.
 *
 * Record: 0 u8 op · 1 u8 arg · 2 u16 flags (bit 0: all zones) · 4 u32 zone · 8 u48 pos (LBA,
 * or byte offset for CONV_WRITE and PRE_IMAGE) · 14 u16 0 · 16 u32 count (LBAs; bytes for
 * CONV_WRITE and PRE_IMAGE) · 20 u32 blob length · 24 u48 blob offset + 1 (0: none; a
 * PRE_IMAGE without a blob is zeros) · 30 u16 0 · 32 8 bytes: SHA-256 prefix of written data.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { allocatedRanges } from '../native/libc.js';
import { writeFully } from './io.js';

export const TRACE_MAGIC = 'ZFTRACE1';
export const TRACE_RECORD = 40;

export const TraceOp = Object.freeze({
  SEQ_WRITE: 1,
  APPEND: 2,
  CONV_WRITE: 3,
  MANAGE: 4,
  ZONE_FAULT: 5,
  CLEAR_FAULT: 6,
  SET_EXT: 7,
  RECOMMEND: 8,
  FLUSH: 9,
  CACHE: 10,
  FAULT_TABLE: 11,
  POWER: 12,
  MARK: 13,
  PRE_IMAGE: 14,
  /** The trace hit its size limit here; nothing after it was recorded. */
  OVERFLOW: 15,
});
export type TraceOpCode = (typeof TraceOp)[keyof typeof TraceOp];

export const MANAGE_CODES = ['', 'open', 'close', 'finish', 'reset', 'offline'] as const;
export type ManageName = Exclude<(typeof MANAGE_CODES)[number], ''>;

export interface TraceFiles {
  base: string;
  trace: string;
  blobs: string;
}

export function traceFiles(dir: string, name: string): TraceFiles {
  return {
    base: path.join(dir, `${name}.base.zmeta`),
    trace: path.join(dir, `${name}.trace`),
    blobs: path.join(dir, `${name}.blobs`),
  };
}

/** Default bound on a trace (records plus saved data). */
export const DEFAULT_TRACE_LIMIT = 1024 * 1024 * 1024;

export class TraceRecorder {
  private readonly traceFd: number;
  private readonly blobsFd: number;
  private readonly buf = Buffer.alloc(64 * TRACE_RECORD);
  private fill = 0;
  private blobsSize = 0;
  private traceSize = TRACE_MAGIC.length;
  private readonly blobByHash = new Map<string, number>();
  private overflowed = false;
  private closed = false;

  /**
   * Start recording namespace `name` into `dir`: snapshot its sidecar (`metaFd`, synced
   * first) and create the trace files.
   */
  constructor(dir: string, name: string, metaFd: number, private readonly limit = DEFAULT_TRACE_LIMIT) {
    const f = traceFiles(dir, name);
    fs.mkdirSync(dir, { recursive: true });
    fs.fdatasyncSync(metaFd);
    const size = fs.fstatSync(metaFd).size;
    const meta = Buffer.alloc(size);
    fs.readSync(metaFd, meta, 0, size, 0);
    fs.writeFileSync(f.base, meta);
    this.traceFd = fs.openSync(f.trace, 'w', 0o644);
    this.blobsFd = fs.openSync(f.blobs, 'w', 0o644);
    writeFully(this.traceFd, Buffer.from(TRACE_MAGIC, 'latin1'), 0, TRACE_MAGIC.length, 0);
  }

  get overflow(): boolean {
    return this.overflowed;
  }

  /** Bytes recorded so far (records and saved data). */
  get bytes(): number {
    return this.traceSize + this.fill + this.blobsSize;
  }

  private record(op: TraceOpCode, arg: number, all: boolean, zone: number, pos: number, count: number, blob: [number, number] | undefined, data?: Uint8Array): void {
    if (this.closed || this.overflowed) return;
    if (this.bytes + 2 * TRACE_RECORD > this.limit) {
      this.markOverflow();
      return;
    }
    this.put(op, arg, all, zone, pos, count, blob, data);
  }

  /** The limit is reached: one OVERFLOW record (room for it is always kept), then nothing. */
  private markOverflow(): void {
    this.put(TraceOp.OVERFLOW, 0, false, 0, 0, 0, undefined);
    this.overflowed = true;
  }

  private put(op: TraceOpCode, arg: number, all: boolean, zone: number, pos: number, count: number, blob: [number, number] | undefined, data?: Uint8Array): void {
    const b = this.buf;
    const at = this.fill;
    b.fill(0, at, at + TRACE_RECORD);
    b[at] = op;
    b[at + 1] = arg;
    b.writeUInt16LE(all ? 1 : 0, at + 2);
    b.writeUInt32LE(zone >>> 0, at + 4);
    b.writeUIntLE(pos, at + 8, 6);
    b.writeUInt32LE(count, at + 16);
    if (blob) {
      b.writeUInt32LE(blob[1], at + 20);
      b.writeUIntLE(blob[0] + 1, at + 24, 6);
    }
    if (data) createHash('sha256').update(data).digest().copy(b, at + 32, 0, 8);
    this.fill += TRACE_RECORD;
    if (this.fill === b.length) this.drain();
  }

  private drain(): void {
    if (this.fill === 0) return;
    writeFully(this.traceFd, this.buf, 0, this.fill, this.traceSize);
    this.traceSize += this.fill;
    this.fill = 0;
  }

  /** Save data (deduplicated by content); returns [offset, length] in the blobs file. */
  private blob(data: Uint8Array): [number, number] | undefined {
    const hash = createHash('sha256').update(data).digest('hex');
    const known = this.blobByHash.get(hash);
    if (known !== undefined) return [known, data.length];
    if (this.bytes + data.length + 2 * TRACE_RECORD > this.limit) {
      this.markOverflow();
      return undefined;
    }
    const off = this.blobsSize;
    writeFully(this.blobsFd, data, 0, data.length, off);
    this.blobsSize += data.length;
    this.blobByHash.set(hash, off);
    return [off, data.length];
  }

  /**
   * Before bytes [offset, offset+length) of the data file change: save what they hold, when
   * any of it is allocated (a hole needs no record: the next write's own range says it).
   */
  preImage(dataFd: number, offset: number, length: number, always = false): void {
    if (this.closed || this.overflowed || length <= 0) return;
    if (!always && allocatedRanges(dataFd, offset, offset + length).length === 0) return;
    const old = Buffer.alloc(length);
    const n = fs.readSync(dataFd, old, 0, length, offset);
    if (n < length) old.fill(0, n);
    const ref = old.every((x) => x === 0) ? undefined : this.blob(old);
    if (this.overflowed) return;
    this.record(TraceOp.PRE_IMAGE, 0, false, 0, offset, length, ref);
  }

  seqWrite(zone: number, slba: number, nlb: number, data: Uint8Array): void {
    this.record(TraceOp.SEQ_WRITE, 0, false, zone, slba, nlb, undefined, data);
  }

  append(zone: number, lba: number, nlb: number, data: Uint8Array): void {
    this.record(TraceOp.APPEND, 0, false, zone, lba, nlb, undefined, data);
  }

  convWrite(offset: number, data: Uint8Array): void {
    this.record(TraceOp.CONV_WRITE, 0, false, 0, offset, data.length, undefined, data);
  }

  manage(cmd: ManageName, zone: number | 'all'): void {
    this.record(TraceOp.MANAGE, MANAGE_CODES.indexOf(cmd), zone === 'all', zone === 'all' ? 0 : zone, 0, 0, undefined);
  }

  zoneFault(kind: 'readonly' | 'offline', zone: number): void {
    this.record(TraceOp.ZONE_FAULT, kind === 'readonly' ? 1 : 2, false, zone, 0, 0, undefined);
  }

  clearFault(zone: number): void {
    this.record(TraceOp.CLEAR_FAULT, 0, false, zone, 0, 0, undefined);
  }

  setExt(zone: number, data: Uint8Array): void {
    const ref = this.blob(data);
    if (this.overflowed) return;
    this.record(TraceOp.SET_EXT, 0, false, zone, 0, 0, ref);
  }

  recommend(zone: number, which: 'reset' | 'finish', on: boolean): void {
    this.record(TraceOp.RECOMMEND, (which === 'reset' ? 1 : 2) | (on ? 0x10 : 0), false, zone, 0, 0, undefined);
  }

  flush(): void {
    this.record(TraceOp.FLUSH, 0, false, 0, 0, 0, undefined);
  }

  cache(on: boolean): void {
    this.record(TraceOp.CACHE, on ? 1 : 0, false, 0, 0, 0, undefined);
  }

  faultTable(encoded: Uint8Array): void {
    this.record(TraceOp.FAULT_TABLE, 0, false, 0, 0, 0, this.blob(encoded));
  }

  power(event: 'power-loss' | 'shutdown', policy: string): void {
    this.record(TraceOp.POWER, event === 'power-loss' ? 1 : 2, false, 0, 0, 0, this.blob(Buffer.from(policy)));
  }

  mark(label: string): void {
    this.record(TraceOp.MARK, 0, false, 0, 0, 0, this.blob(Buffer.from(label, 'utf8')));
  }

  close(): void {
    if (this.closed) return;
    this.drain();
    this.closed = true;
    fs.fdatasyncSync(this.traceFd);
    fs.fdatasyncSync(this.blobsFd);
    fs.closeSync(this.traceFd);
    fs.closeSync(this.blobsFd);
  }
}

/** One decoded trace record. */
export interface TraceRecord {
  op: TraceOpCode;
  arg: number;
  all: boolean;
  zone: number;
  pos: number;
  count: number;
  /** Offset of the saved data in the blobs file, or -1. */
  blobOffset: number;
  blobLength: number;
  /** 16 hex digits, '' when the operation wrote no data. */
  hash: string;
}

export class TraceFormatError extends Error {
  constructor(file: string, why: string) {
    super(`${file}: ${why}`);
    this.name = 'TraceFormatError';
  }
}

/** Read every record of a trace file. */
export function readTraceRecords(file: string): TraceRecord[] {
  const all = fs.readFileSync(file);
  if (all.length < TRACE_MAGIC.length || all.toString('latin1', 0, TRACE_MAGIC.length) !== TRACE_MAGIC) {
    throw new TraceFormatError(file, `not a zonefuse trace (no ${TRACE_MAGIC} magic)`);
  }
  const body = all.length - TRACE_MAGIC.length;
  if (body % TRACE_RECORD !== 0) throw new TraceFormatError(file, `truncated: ${body} bytes of records is not a multiple of ${TRACE_RECORD}`);
  const out: TraceRecord[] = [];
  for (let at = TRACE_MAGIC.length; at < all.length; at += TRACE_RECORD) {
    const op = all[at]!;
    if (op < TraceOp.SEQ_WRITE || op > TraceOp.OVERFLOW) throw new TraceFormatError(file, `unknown operation ${op} in record ${out.length}`);
    const hasData = op === TraceOp.SEQ_WRITE || op === TraceOp.APPEND || op === TraceOp.CONV_WRITE;
    out.push({
      op: op as TraceOpCode,
      arg: all[at + 1]!,
      all: (all.readUInt16LE(at + 2) & 1) !== 0,
      zone: all.readUInt32LE(at + 4),
      pos: all.readUIntLE(at + 8, 6),
      count: all.readUInt32LE(at + 16),
      blobLength: all.readUInt32LE(at + 20),
      blobOffset: all.readUIntLE(at + 24, 6) - 1,
      hash: hasData ? all.toString('hex', at + 32, at + 40) : '',
    });
  }
  return out;
}

/** SHA-256 prefix of data, as recorded for written data. */
export function dataHash(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex').slice(0, 16);
}
