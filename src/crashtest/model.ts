/**
 * The crash states of a recorded trace (PRODUCT.md §13).
 *
 * A crash point P is "the device had applied the first P operations of the trace". The state a
 * power loss at P leaves follows the store's own rule (engine/loss-policy.ts): what was durable
 * (flushed, or made durable by zone management) stays; of the unflushed writes of each
 * sequential zone a prefix survives; each unflushed conventional LBA keeps its newest write or
 * its pre-image. A state is named `P:POLICY` (e.g. `118:none`, `40:prefix:2769`): the state is
 * exactly what `ctl power-cycle keep=POLICY` would have left at that point.
 *
 * Zone metadata comes from replaying the trace on a zone engine loaded from the sidecar as it
 * was when recording began, then applying the engine's own power-loss transition. Data comes
 * from the final image, or from the pre-images the trace saved (see store/trace.ts).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { ZonedNamespace } from '../engine/namespace.js';
import { ZoneAttr } from '../engine/zone.js';
import { LossPolicy, formatLossPolicy, keepsLba, parseLossPolicy, survivingWrites } from '../engine/loss-policy.js';
import { StoredNamespace } from '../store/stored-namespace.js';
import { Compat, FAULTS_SIZE, Flag, HEADER_SIZE, Header, RECORD_SIZE, RecordCodec, crc32, encodeHeader, layout } from '../store/format.js';
import { MANAGE_CODES, ManageName, TraceFiles, TraceOp, TraceRecord, readTraceRecords } from '../store/trace.js';

/** The trace cannot be turned into states (the workload did something crashtest cannot model). */
export class TraceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TraceError';
  }
}

export interface StateId {
  point: number;
  policy: LossPolicy;
}

export function formatStateId(s: StateId): string {
  return `${s.point}:${formatLossPolicy(s.policy)}`;
}

export function parseStateId(text: string): StateId {
  const m = /^(0|[1-9][0-9]*):(.+)$/.exec(text);
  if (!m) throw new TraceError(`"${text}" is not a crash state id (POINT:none, POINT:all or POINT:prefix:SEED, e.g. 12:prefix:7)`);
  try {
    return { point: Number(m[1]), policy: parseLossPolicy(m[2]!) };
  } catch (e) {
    throw new TraceError(`"${text}" is not a crash state id: ${(e as Error).message}`);
  }
}

/** A byte range of the data file and where its content comes from. */
export interface Piece {
  offset: number;
  length: number;
  /** FINAL: the final image at the same offset; ZEROS; else an offset in the blobs file. */
  src: number;
}
export const FINAL = -2;
export const ZEROS = -1;

export type StateKind = 'boundary' | 'sampled' | 'requested';

export interface CrashState {
  id: string;
  point: number;
  policy: LossPolicy;
  kind: StateKind;
  /** Label of the last `mark` before the point ('' when none), and how many marks there were. */
  mark: string;
  marks: number;
  /** Device flushes completed before the point. */
  flushes: number;
  /** Unflushed writes (sequential-zone writes and conventional LBAs) kept and lost. */
  kept: number;
  lost: number;
  /** The sidecar of the state (clean, not detached) and its header. */
  meta: Buffer;
  header: Header;
  /** Disjoint ranges of the data file with content; everything else reads as zeros. */
  pieces: Piece[];
  /** Equal signatures: identical states (lifetime counters aside) under the same mark. */
  signature: string;
}

/** An operation that changes bytes of the data file, with what those bytes held before. */
interface Modifier {
  op: number;
  offset: number;
  length: number;
  /** Blob offset of the pre-image, or ZEROS. */
  src: number;
}

export interface TraceSummary {
  ops: number;
  writes: number;
  appends: number;
  convWrites: number;
  bytesWritten: number;
  flushes: number;
  zoneCommands: number;
  marks: number;
  traceBytes: number;
  savedBytes: number;
}

/** Everything known about a trace: its operations, the base engine, and who modifies what. */
export class TraceModel {
  readonly ops: TraceRecord[] = [];
  readonly summary: TraceSummary;
  readonly header: Header;
  readonly codec: RecordCodec;
  readonly baseMeta: Buffer;
  readonly lbaSize: number;
  readonly capacity: number;
  /** Modifiers per region (zone, or 1 MiB chunk of a namespace without zones), in trace order. */
  private readonly modifiers = new Map<number, Modifier[]>();
  private readonly regionBytes: number;
  /** Every conventional LBA any write touched, ascending. */
  readonly convLbas: number[];
  private readonly baseDir: string;

  constructor(readonly files: TraceFiles, readonly name: string, scratchDir: string) {
    const records = readTraceRecords(files.trace);
    this.baseMeta = fs.readFileSync(files.base);
    // Load the base engine with the store's own reader: the base sidecar beside an empty image.
    this.baseDir = scratchDir;
    fs.mkdirSync(scratchDir, { recursive: true });
    fs.writeFileSync(path.join(scratchDir, `${name}.zmeta`), this.baseMeta);
    const capacity = StoredNamespace.peekHeader(scratchDir, name).geometry.capacity;
    const fd = fs.openSync(path.join(scratchDir, `${name}.data`), 'w');
    try {
      fs.ftruncateSync(fd, capacity); // sparse: the reader only checks the size
    } finally {
      fs.closeSync(fd);
    }
    const base = StoredNamespace.open(scratchDir, name, { readOnly: true });
    try {
      this.header = { ...base.info };
      this.lbaSize = base.lbaSize;
      this.capacity = base.capacity;
    } finally {
      base.close(false);
    }
    this.codec = new RecordCodec(this.header.endianness);
    const g = this.header.geometry;
    this.regionBytes = g.zoned ? g.zoneSize : 1 << 20;

    const s: TraceSummary = { ops: 0, writes: 0, appends: 0, convWrites: 0, bytesWritten: 0, flushes: 0, zoneCommands: 0, marks: 0, traceBytes: fs.statSync(files.trace).size, savedBytes: fs.statSync(files.blobs).size };
    const conv = new Set<number>();
    let pending: TraceRecord[] = [];
    for (const r of records) {
      if (r.op === TraceOp.PRE_IMAGE) {
        pending.push(r);
        continue;
      }
      const i = this.ops.length;
      this.ops.push(r);
      for (const p of pending) this.addModifier(i, p.pos, p.count, p.blobOffset >= 0 ? p.blobOffset : ZEROS);
      const covered = pending;
      pending = [];
      const wrote = (offset: number, length: number): void => {
        // The write's own range, where no pre-image was saved: it was a hole (zeros).
        let pos = offset;
        for (const p of covered.slice().sort((a, b) => a.pos - b.pos)) {
          if (p.pos > pos) this.addModifier(i, pos, Math.min(p.pos, offset + length) - pos, ZEROS);
          pos = Math.max(pos, p.pos + p.count);
        }
        if (pos < offset + length) this.addModifier(i, pos, offset + length - pos, ZEROS);
        s.bytesWritten += length;
      };
      switch (r.op) {
        case TraceOp.SEQ_WRITE: s.writes++; wrote(r.pos * this.lbaSize, r.count * this.lbaSize); break;
        case TraceOp.APPEND: s.appends++; wrote(r.pos * this.lbaSize, r.count * this.lbaSize); break;
        case TraceOp.CONV_WRITE: {
          s.convWrites++;
          wrote(r.pos, r.count);
          const first = Math.floor(r.pos / this.lbaSize);
          const last = Math.ceil((r.pos + r.count) / this.lbaSize);
          for (let l = first; l < last; l++) conv.add(l);
          break;
        }
        case TraceOp.FLUSH: s.flushes++; break;
        case TraceOp.MARK: s.marks++; break;
        case TraceOp.MANAGE: case TraceOp.ZONE_FAULT: case TraceOp.CLEAR_FAULT: case TraceOp.SET_EXT: case TraceOp.RECOMMEND:
          s.zoneCommands++; break;
        default: break;
      }
    }
    s.ops = this.ops.length;
    this.summary = s;
    this.convLbas = [...conv].sort((a, b) => a - b);
  }

  private addModifier(op: number, offset: number, length: number, src: number): void {
    // Split at region boundaries so each region's list stays short.
    while (length > 0) {
      const region = Math.floor(offset / this.regionBytes);
      const n = Math.min(length, (region + 1) * this.regionBytes - offset);
      let list = this.modifiers.get(region);
      if (!list) this.modifiers.set(region, (list = []));
      list.push({ op, offset, length: n, src });
      if (src >= 0) src += n;
      offset += n;
      length -= n;
    }
  }

  /** A fresh engine in the state recording began with, and the base fault table. */
  baseEngine(): { engine: ZonedNamespace; faults: Buffer } {
    const ns = StoredNamespace.open(this.baseDir, this.name, { readOnly: true });
    try {
      return { engine: ns.engine, faults: ns.faults.encode(this.header.endianness) };
    } finally {
      ns.close(false);
    }
  }

  /**
   * What bytes [a, b) held after the first `q` operations: for each byte, the pre-image saved by
   * the first later operation that changed it, else the final image. Appends to `out`.
   */
  contentAt(q: number, a: number, b: number, out: Piece[]): void {
    let uncovered: Array<[number, number]> = [[a, b]];
    const found: Piece[] = [];
    for (let region = Math.floor(a / this.regionBytes); region * this.regionBytes < b; region++) {
      const list = this.modifiers.get(region);
      if (!list) continue;
      let i = lowerBound(list, q);
      for (; i < list.length && uncovered.length > 0; i++) {
        const m = list[i]!;
        const mEnd = m.offset + m.length;
        if (mEnd <= a || m.offset >= b) continue;
        const next: Array<[number, number]> = [];
        for (const [u0, u1] of uncovered) {
          const x0 = Math.max(u0, m.offset);
          const x1 = Math.min(u1, mEnd);
          if (x0 >= x1) {
            next.push([u0, u1]);
            continue;
          }
          found.push({ offset: x0, length: x1 - x0, src: m.src === ZEROS ? ZEROS : m.src + (x0 - m.offset) });
          if (u0 < x0) next.push([u0, x0]);
          if (x1 < u1) next.push([x1, u1]);
        }
        uncovered = next;
      }
    }
    for (const [u0, u1] of uncovered) found.push({ offset: u0, length: u1 - u0, src: FINAL });
    found.sort((x, y) => x.offset - y.offset);
    for (const p of found) if (p.src !== ZEROS) out.push(p);
  }
}

function lowerBound(list: Modifier[], op: number): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (list[mid]!.op < op) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

const ATTR_FOR: Record<number, ZoneAttr.RZR | ZoneAttr.FZR> = { 1: ZoneAttr.RZR, 2: ZoneAttr.FZR };

/**
 * Walks a trace forward on a zone engine, keeping what each crash point needs: the durable
 * write pointers, the unflushed writes per zone, the unflushed conventional LBAs.
 */
export class Replayer {
  /** Operations applied so far (the current crash point). */
  point = 0;
  private readonly engine: ZonedNamespace;
  private faults: Buffer;
  private readonly durable: Float64Array;
  /** Per dirty zone: the write pointer after each unflushed write, in order. */
  private readonly unflushed = new Map<number, number[]>();
  /** Conventional LBA → index of the last write to it (now, and as of the last flush). */
  private readonly convNow = new Map<number, number>();
  private readonly convDurable = new Map<number, number>();
  private readonly convDirty = new Set<number>();
  private lastFlushPoint = 0;
  private cacheOn: boolean;
  private mark = '';
  private marks = 0;
  private flushes = 0;

  constructor(private readonly model: TraceModel) {
    const b = model.baseEngine();
    this.engine = b.engine;
    this.faults = b.faults;
    const e = this.engine;
    this.durable = new Float64Array(e.nrZones);
    for (let z = 0; z < e.nrZones; z++) this.durable[z] = e.wpOf(z);
    this.cacheOn = (model.header.flags & Flag.VOLATILE_CACHE) !== 0;
  }

  private blob(r: TraceRecord): Buffer {
    const buf = Buffer.alloc(r.blobLength);
    if (r.blobOffset < 0) return buf;
    const fd = fs.openSync(this.model.files.blobs, 'r');
    try {
      fs.readSync(fd, buf, 0, buf.length, r.blobOffset);
    } finally {
      fs.closeSync(fd);
    }
    return buf;
  }

  private mismatch(r: TraceRecord, why: string): TraceError {
    return new TraceError(`operation ${this.point} of the trace (op ${r.op}, zone ${r.zone}) does not replay: ${why}`);
  }

  /** Apply operations until `point` of them are applied. */
  advanceTo(point: number): void {
    const ops = this.model.ops;
    if (point < this.point) throw new Error('Replayer only moves forward');
    if (point > ops.length) throw new TraceError(`crash point ${point} is past the end of the trace (${ops.length} operations)`);
    while (this.point < point) {
      this.apply(ops[this.point]!);
      this.point++;
    }
  }

  private madeDurable(zones: number[]): void {
    for (const z of zones) {
      this.durable[z] = this.engine.wpOf(z);
      this.unflushed.delete(z);
    }
  }

  private wroteSequential(z: number): void {
    const wp = this.engine.wpOf(z);
    if (!this.cacheOn) {
      this.madeDurable([z]);
      return;
    }
    let list = this.unflushed.get(z);
    if (!list) this.unflushed.set(z, (list = []));
    list.push(wp);
  }

  private flushAll(): void {
    const e = this.engine;
    for (const z of this.unflushed.keys()) this.durable[z] = e.wpOf(z);
    this.unflushed.clear();
    for (const l of this.convDirty) this.convDurable.set(l, this.convNow.get(l)!);
    this.convDirty.clear();
    this.lastFlushPoint = this.point;
  }

  private apply(r: TraceRecord): void {
    const e = this.engine;
    switch (r.op) {
      case TraceOp.SEQ_WRITE: {
        const rej = e.checkWrite(r.pos, r.count);
        if (rej) throw this.mismatch(r, rej.detail);
        e.commitWrite(r.pos, r.count);
        this.wroteSequential(e.zoneOf(r.pos));
        return;
      }
      case TraceOp.APPEND: {
        const lba = e.append(r.zone, r.count);
        if (typeof lba !== 'number') throw this.mismatch(r, lba.detail);
        if (lba !== r.pos) throw this.mismatch(r, `the append landed at LBA ${lba}, the trace says ${r.pos}`);
        this.wroteSequential(r.zone);
        return;
      }
      case TraceOp.CONV_WRITE: {
        const lba = this.model.lbaSize;
        for (let l = Math.floor(r.pos / lba); l < Math.ceil((r.pos + r.count) / lba); l++) {
          if (!this.convDurable.has(l)) this.convDurable.set(l, this.convNow.get(l) ?? -1);
          this.convNow.set(l, this.point);
          if (this.cacheOn) this.convDirty.add(l);
          else this.convDurable.set(l, this.point);
        }
        return;
      }
      case TraceOp.MANAGE: {
        const cmd = MANAGE_CODES[r.arg] as ManageName | undefined;
        if (!cmd) throw this.mismatch(r, `unknown zone command ${r.arg}`);
        const rej = e.manage(cmd, r.all ? 'all' : r.zone);
        if (rej) throw this.mismatch(r, rej.detail);
        this.madeDurable(e.lastChanges());
        return;
      }
      case TraceOp.ZONE_FAULT: {
        const rej = e.injectFault(r.arg === 1 ? 'readonly' : 'offline', r.zone);
        if (rej) throw this.mismatch(r, rej.detail);
        this.madeDurable(e.lastChanges());
        return;
      }
      case TraceOp.CLEAR_FAULT: {
        const rej = e.clearFault(r.zone);
        if (rej) throw this.mismatch(r, rej.detail);
        this.madeDurable(e.lastChanges());
        return;
      }
      case TraceOp.SET_EXT: {
        const rej = e.setDescriptorExtension(r.zone, this.blob(r));
        if (rej) throw this.mismatch(r, rej.detail);
        this.madeDurable(e.lastChanges());
        return;
      }
      case TraceOp.RECOMMEND: {
        const rej = e.setRecommendation(r.zone, ATTR_FOR[r.arg & 0xf]!, (r.arg & 0x10) !== 0);
        if (rej) throw this.mismatch(r, rej.detail);
        this.madeDurable(e.lastChanges());
        return;
      }
      case TraceOp.FLUSH:
        this.flushAll();
        this.flushes++;
        return;
      case TraceOp.CACHE:
        this.cacheOn = r.arg === 1;
        if (!this.cacheOn) this.flushAll();
        return;
      case TraceOp.FAULT_TABLE:
        this.faults = this.blob(r);
        return;
      case TraceOp.MARK:
        this.mark = this.blob(r).toString('utf8');
        this.marks++;
        return;
      case TraceOp.POWER:
        throw new TraceError(`the workload power-cycled the device (operation ${this.point}: ${r.arg === 1 ? 'power-cycle' : 'shutdown'}); ` +
          'crashtest cuts the power itself: leave power cycles out of the workload');
      case TraceOp.OVERFLOW:
        throw new TraceError(`the trace reached its size limit at operation ${this.point}: raise --trace-limit or shorten the workload`);
      default:
        throw this.mismatch(r, 'unexpected record');
    }
  }

  /** The state a power loss at the current point leaves under `policy`. */
  capture(policy: LossPolicy, kind: StateKind): CrashState {
    const m = this.model;
    const e = this.engine;
    const lba = m.lbaSize;
    const keptWp = Float64Array.from(this.durable);
    let kept = 0;
    let lost = 0;
    for (const [z, ends] of this.unflushed) {
      const k = survivingWrites(policy, z, ends.length);
      if (k > 0) keptWp[z] = ends[k - 1]!;
      kept += k;
      lost += ends.length - k;
    }
    const lostLbas: number[] = [];
    for (const l of this.convDirty) {
      if (keepsLba(policy, l)) kept++;
      else {
        lost++;
        lostLbas.push(l);
      }
    }
    lostLbas.sort((a, b) => a - b);

    e.powerLoss(keptWp);
    const sig = createHash('sha256');
    let meta: { meta: Buffer; header: Header };
    const pieces: Piece[] = [];
    try {
      meta = this.encodeMeta(sig);
      // Sequential zones: their data below the write pointer as of this point.
      for (let z = e.convZones; z < e.nrZones; z++) {
        const n = e.dataLbas(z);
        if (n > 0) m.contentAt(this.point, e.zoneStart(z) * lba, (e.zoneStart(z) + n) * lba, pieces);
      }
    } finally {
      e.revertLastOperation();
    }
    // Conventional space: each lost LBA as of the last flush, everything else as of now.
    const convEnd = e.zoned ? e.convZones * e.zoneLbas * lba : m.capacity;
    let pos = 0;
    for (let i = 0; i < lostLbas.length;) {
      let j = i + 1;
      while (j < lostLbas.length && lostLbas[j] === lostLbas[j - 1]! + 1) j++;
      const a = lostLbas[i]! * lba;
      const b = (lostLbas[j - 1]! + 1) * lba;
      if (a > pos) m.contentAt(this.point, pos, a, pieces);
      m.contentAt(this.lastFlushPoint, a, b, pieces);
      pos = b;
      i = j;
    }
    if (pos < convEnd) m.contentAt(this.point, pos, convEnd, pieces);
    pieces.sort((x, y) => x.offset - y.offset);

    for (const l of m.convLbas) {
      const v = lostLbas.length > 0 && binaryHas(lostLbas, l) ? this.convDurable.get(l) : this.convNow.get(l);
      sig.update(`c${l}=${v ?? -1};`);
    }
    sig.update(`mark=${this.marks}:${this.mark}`);
    return {
      id: formatStateId({ point: this.point, policy }),
      point: this.point, policy, kind, mark: this.mark, marks: this.marks, flushes: this.flushes, kept, lost,
      meta: meta.meta, header: meta.header, pieces, signature: sig.digest('hex'),
    };
  }

  /**
   * The sidecar of the state (from the engine after the power loss): the base file with the
   * header marked clean, every zone record, extensions and the fault table rewritten. The
   * signature gets the zones' states, write pointers, attributes, data generations and
   * extensions (not their lifetime counters).
   */
  private encodeMeta(sig: ReturnType<typeof createHash>): { meta: Buffer; header: Header } {
    const m = this.model;
    const e = this.engine;
    const h: Header = { ...m.header, flags: (m.header.flags | Flag.CLEAN) & ~Flag.DETACHED };
    if (this.cacheOn) h.flags |= Flag.VOLATILE_CACHE;
    else h.flags &= ~Flag.VOLATILE_CACHE;
    const meta = Buffer.from(m.baseMeta);
    writeStateHeader(meta, h);
    const extSize = h.geometry.descrExtSize;
    for (let z = 0; z < e.nrZones; z++) {
      const ext = (e.attrsOf(z) & ZoneAttr.ZDEV) !== 0 ? e.extOf(z) : undefined;
      let extCrc = 0;
      if (ext && extSize > 0) {
        meta.set(ext, h.extOffset + z * extSize);
        extCrc = crc32(ext);
      }
      const wp = e.wpOf(z);
      m.codec.encodeFields(meta, h.recordsOffset + z * RECORD_SIZE, e.stateOf(z), e.typeOf(z), e.attrsOf(z), e.flagsOf(z), wp,
        e.lbasWrittenOf(z), e.resetsOf(z), e.finishesOf(z), extCrc, wp);
      if (z >= e.convZones) sig.update(`z${z}:${e.stateOf(z)}:${wp}:${e.attrsOf(z)}:${e.resetsOf(z)}:${extCrc};`);
    }
    this.faults.copy(meta, h.faultsOffset, 0, FAULTS_SIZE);
    sig.update(this.faults);
    return { meta, header: h };
  }
}

/**
 * Put header `h` into a state's sidecar buffer: both copies when the sidecar has two (the second
 * is its last block), with a sequence number above the base's, so either copy reads the same.
 */
export function writeStateHeader(meta: Buffer, h: Header): void {
  const two = (h.compat & Compat.HEADER_COPY) !== 0 && meta.length >= layout(h.nrZones, h.geometry.descrExtSize).size + HEADER_SIZE;
  const block = encodeHeader({ ...h, headerSeq: h.headerSeq + 1 });
  block.copy(meta, 0);
  if (two) block.copy(meta, meta.length - HEADER_SIZE);
}

function binaryHas(sorted: number[], x: number): boolean {
  let lo = 0;
  let hi = sorted.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const v = sorted[mid]!;
    if (v === x) return true;
    if (v < x) lo = mid + 1;
    else hi = mid - 1;
  }
  return false;
}
