/**
 * Binary layout of the sidecar metadata file (`<name>.zmeta`), format version 1.
 * docs/format.md is the normative description; keep the two in step.
 *
 * Every multi-byte integer is stored in the byte order named by the header's endianness byte,
 * so a file written on one host reads on any other. Checksums are CRC-32 (zlib polynomial).
 */
import { crc32 } from 'node:zlib';
import { Geometry } from '../engine/geometry.js';

export const MAGIC = Buffer.from('ZFUSEMD\0', 'latin1');
export const FORMAT_VERSION = 1;
export const HEADER_SIZE = 4096;
export const RECORD_SIZE = 64;
/** Written in the file's byte order; reading it back with the declared order must give this. */
export const BYTE_ORDER_MARK = 0x01020304;

export type Endianness = 'little' | 'big';

/** Header flag bits. */
export const Flag = Object.freeze({
  CLEAN: 1 << 0,
  ZONED: 1 << 1,
  CROSS_READ: 1 << 2,
  AUTO_TRANSITION: 1 << 3,
  HOST_AWARE: 1 << 4,
  DETACHED: 1 << 5,
  /** Writes are acknowledged before they are durable; a flush makes them durable. */
  VOLATILE_CACHE: 1 << 6,
});
const KNOWN_FLAGS = 0x7f;

/**
 * Feature bits, as in ext4/qcow2: an unknown INCOMPAT bit means this reader must refuse the
 * file; an unknown COMPAT bit can be ignored (and is cleared by a writer that does not know it).
 * Each INCOMPAT bit is set only on namespaces that use its feature, so the others stay readable
 * by zonefuse versions that predate it.
 */
export const Incompat = Object.freeze({
  /**
   * Zone Random Write Area: header zrwas/zrwafg/numzrwa, the records' ZRWAV attribute and window
   * extents. An older reader would hide the window's data (it reads only below wp) and an older
   * writer would zero the extents.
   */
  ZRWA: 1 << 0,
  /** Reset/Finish Recommended Limits: header rrl/frl and the records' timer start times. */
  DEVICE_TIMERS: 1 << 1,
});
export const KNOWN_INCOMPAT = Incompat.ZRWA | Incompat.DEVICE_TIMERS;

/** Compatible features (docs/format.md §5.2). */
export const Compat = Object.freeze({
  /**
   * A second copy of the header is the file's last block (at or after layout().size), and
   * `header_seq` orders the two: a torn header write damages only one (docs/format.md §5.3).
   */
  HEADER_COPY: 1 << 0,
});
export const KNOWN_COMPAT = 0x1;

export const Off = Object.freeze({
  magic: 0,
  endianness: 8,
  version: 10,
  bom: 12,
  headerSize: 16,
  recordSize: 20,
  incompat: 24,
  compat: 28,
  flags: 32,
  lbaSize: 36,
  capacity: 40,
  zoneSize: 48,
  zoneCapacity: 56,
  nrZones: 64,
  convZones: 68,
  maxOpen: 72,
  maxActive: 76,
  zasl: 80,
  descrExtSize: 84,
  uuid: 88,
  created: 104,
  mountCount: 112,
  uncleanCount: 116,
  lastOpened: 120,
  recordsOffset: 128,
  extOffset: 136,
  name: 144,
  nameLength: 64,
  faultsOffset: 208,
  faultsSize: 216,
  /** u64, with Compat.HEADER_COPY: incremented at every header write, so the newer copy wins. */
  headerSeq: 224,
  zrwas: 256,
  zrwafg: 260,
  numzrwa: 264,
  rrl: 268,
  frl: 272,
  clockOffset: 280,
  checksum: HEADER_SIZE - 4,
});

/** Size of the fault block (bad LBA ranges, random fault mode) at the end of the sidecar. */
export const FAULTS_SIZE = 8192;

export const RecOff = Object.freeze({
  state: 0,
  type: 1,
  attrs: 2,
  flags: 3,
  wp: 8,
  lbasWritten: 16,
  resets: 24,
  finishes: 28,
  /** ZRWA zones: LBAs written in the window above wp (window data end − wp). */
  zrwaExtent: 4,
  extCrc: 32,
  durableWp: 36,
  /** Device time (ms) the zone's Full or active stay began, for RRL/FRL; 0 = unknown. */
  timerSince: 44,
  /** 0: no ZRWA at the last flush; else 1 + (durable window data end − durable_wp). */
  durableZrwa: 52,
  checksum: RECORD_SIZE - 4,
});

export interface Header {
  endianness: Endianness;
  version: number;
  flags: number;
  geometry: Geometry;
  nrZones: number;
  uuid: string;
  created: number;
  mountCount: number;
  uncleanCount: number;
  lastOpened: number;
  recordsOffset: number;
  extOffset: number;
  faultsOffset: number;
  name: string;
  /** ms that `clock +SECONDS` added to the device clock (device time = wall time + this). */
  clockOffset: number;
  /** Known compatible feature bits (Compat); unknown ones are dropped when read. */
  compat: number;
  /** Header write sequence number (meaningful with Compat.HEADER_COPY). */
  headerSeq: number;
}

export interface ZoneRecord {
  state: number;
  type: number;
  attrs: number;
  flags: number;
  wp: number;
  lbasWritten: number;
  resets: number;
  finishes: number;
  extCrc: number;
  /**
   * Write pointer as of the last flush (volatile write cache): what survives a power loss.
   * Equal to wp when the cache is off.
   */
  durableWp: number;
  /** ZRWA zones: one past the highest LBA written in the window (absolute); = wp otherwise. */
  zrwaEnd?: number;
  /** Device time (ms) the zone's Full or active stay began (RRL/FRL timers); -1 = unknown. */
  timerSince?: number;
  /** The window data end as of the last flush (absolute), or -1: no ZRWA then. */
  durableZrwaEnd?: number;
}

/** A sidecar that cannot be used. `field` names the header or record field at fault. */
export class FormatError extends Error {
  constructor(readonly file: string, readonly field: string, detail: string) {
    super(`${file}: ${field}: ${detail}`);
    this.name = 'FormatError';
  }
}

function align(n: number, to: number): number {
  return Math.ceil(n / to) * to;
}

/**
 * Where the areas start for a geometry, and `size`, where they end: the smallest valid file. With
 * Compat.HEADER_COPY the header's second copy is the file's last block, at `size` or later.
 */
export function layout(nrZones: number, descrExtSize: number): { recordsOffset: number; extOffset: number; faultsOffset: number; size: number } {
  const recordsOffset = HEADER_SIZE;
  const extOffset = align(recordsOffset + nrZones * RECORD_SIZE, 4096);
  const faultsOffset = align(extOffset + nrZones * descrExtSize, 4096);
  const size = faultsOffset + FAULTS_SIZE;
  return { recordsOffset, extOffset, faultsOffset, size };
}

const TWO32 = 2 ** 32;

/** Read a u64 as a number; NaN when it is above 2^53 (no valid field is). */
function u64(v: DataView, off: number, le: boolean): number {
  const lo = v.getUint32(off + (le ? 0 : 4), le);
  const hi = v.getUint32(off + (le ? 4 : 0), le);
  if (hi >= 0x200000) return Number.NaN;
  return hi * TWO32 + lo;
}

/** Write a number < 2^53 as a u64 without going through BigInt (hot path). */
function setU64(v: DataView, off: number, n: number, le: boolean): void {
  v.setUint32(off + (le ? 0 : 4), n >>> 0, le);
  v.setUint32(off + (le ? 4 : 0), Math.floor(n / TWO32), le);
}

export function encodeHeader(h: Header): Buffer {
  const buf = Buffer.alloc(HEADER_SIZE);
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const le = h.endianness === 'little';
  const g = h.geometry;
  MAGIC.copy(buf, Off.magic);
  buf[Off.endianness] = le ? 1 : 2;
  v.setUint16(Off.version, h.version, le);
  v.setUint32(Off.bom, BYTE_ORDER_MARK, le);
  v.setUint32(Off.headerSize, HEADER_SIZE, le);
  v.setUint32(Off.recordSize, RECORD_SIZE, le);
  v.setUint32(Off.incompat, incompatFor(g), le);
  v.setUint32(Off.compat, h.compat & KNOWN_COMPAT, le);
  v.setUint32(Off.flags, h.flags, le);
  v.setUint32(Off.lbaSize, g.lbaSize, le);
  setU64(v, Off.capacity, g.capacity, le);
  setU64(v, Off.zoneSize, g.zoneSize, le);
  setU64(v, Off.zoneCapacity, g.zoneCapacity, le);
  v.setUint32(Off.nrZones, h.nrZones, le);
  v.setUint32(Off.convZones, g.convZones, le);
  v.setUint32(Off.maxOpen, g.maxOpen, le);
  v.setUint32(Off.maxActive, g.maxActive, le);
  v.setUint32(Off.zasl, g.zasl, le);
  v.setUint32(Off.descrExtSize, g.descrExtSize, le);
  Buffer.from(h.uuid.replace(/-/g, ''), 'hex').copy(buf, Off.uuid, 0, 16);
  setU64(v, Off.created, h.created, le);
  v.setUint32(Off.mountCount, h.mountCount >>> 0, le);
  v.setUint32(Off.uncleanCount, h.uncleanCount >>> 0, le);
  setU64(v, Off.lastOpened, h.lastOpened, le);
  setU64(v, Off.recordsOffset, h.recordsOffset, le);
  setU64(v, Off.extOffset, h.extOffset, le);
  setU64(v, Off.faultsOffset, h.faultsOffset, le);
  v.setUint32(Off.faultsSize, FAULTS_SIZE, le);
  if (h.compat & Compat.HEADER_COPY) setU64(v, Off.headerSeq, h.headerSeq, le);
  buf.write(h.name, Off.name, Off.nameLength, 'utf8');
  v.setUint32(Off.zrwas, g.zrwas, le);
  v.setUint32(Off.zrwafg, g.zrwafg, le);
  v.setUint32(Off.numzrwa, g.numzrwa, le);
  v.setUint32(Off.rrl, g.rrl, le);
  v.setUint32(Off.frl, g.frl, le);
  setU64(v, Off.clockOffset, h.clockOffset, le);
  v.setUint32(Off.checksum, crc32(buf.subarray(0, Off.checksum)), le);
  return buf;
}

/** The incompatible features a geometry uses. */
export function incompatFor(g: Geometry): number {
  return (g.zrwas !== 0 ? Incompat.ZRWA : 0) | (g.rrl !== 0 || g.frl !== 0 ? Incompat.DEVICE_TIMERS : 0);
}

function uuidString(b: Buffer): string {
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/**
 * Decode and validate a header. Throws FormatError naming the field for: bad magic, unknown
 * endianness, byte-order mark mismatch, newer version, unknown incompatible features,
 * checksum mismatch, or values no zonefuse could have written.
 */
export function decodeHeader(file: string, buf: Buffer, fileSize: number): Header {
  if (buf.length < HEADER_SIZE) {
    throw new FormatError(file, 'header', `file is ${buf.length} bytes, shorter than the ${HEADER_SIZE}-byte header`);
  }
  if (!buf.subarray(0, 8).equals(MAGIC)) {
    throw new FormatError(file, 'magic', `expected "ZFUSEMD", found ${JSON.stringify(buf.subarray(0, 8).toString('latin1'))}: not a zonefuse metadata file`);
  }
  const e = buf[Off.endianness];
  if (e !== 1 && e !== 2) throw new FormatError(file, 'endianness', `unknown byte order code ${e} (1 = little, 2 = big)`);
  const le = e === 1;
  const v = new DataView(buf.buffer, buf.byteOffset, HEADER_SIZE);
  // Before the version: a damaged endianness byte must not read as "a newer version".
  if (v.getUint32(Off.bom, le) !== BYTE_ORDER_MARK) {
    throw new FormatError(file, 'byte order mark', `does not read as 0x01020304 in the declared ${le ? 'little' : 'big'}-endian order`);
  }
  const version = v.getUint16(Off.version, le);
  if (version > FORMAT_VERSION) {
    throw new FormatError(file, 'version', `format version ${version} is newer than this zonefuse supports (${FORMAT_VERSION}); upgrade zonefuse`);
  }
  if (version < 1) throw new FormatError(file, 'version', `format version ${version} is invalid`);
  const stored = v.getUint32(Off.checksum, le);
  const actual = crc32(buf.subarray(0, Off.checksum));
  if (stored !== actual) {
    throw new FormatError(file, 'header checksum', `mismatch (stored 0x${stored.toString(16)}, computed 0x${actual.toString(16)}): the header is corrupt`);
  }
  if (v.getUint32(Off.headerSize, le) !== HEADER_SIZE) {
    throw new FormatError(file, 'header size', `${v.getUint32(Off.headerSize, le)}, expected ${HEADER_SIZE}`);
  }
  if (v.getUint32(Off.recordSize, le) !== RECORD_SIZE) {
    throw new FormatError(file, 'record size', `${v.getUint32(Off.recordSize, le)}, expected ${RECORD_SIZE}`);
  }
  const incompat = v.getUint32(Off.incompat, le);
  if ((incompat & ~KNOWN_INCOMPAT) !== 0) {
    throw new FormatError(file, 'incompatible features', `0x${incompat.toString(16)} includes features this zonefuse does not know`);
  }
  const flags = v.getUint32(Off.flags, le);
  if ((flags & ~KNOWN_FLAGS) !== 0) throw new FormatError(file, 'flags', `unknown flag bits 0x${flags.toString(16)}`);
  const geometry: Geometry = {
    lbaSize: v.getUint32(Off.lbaSize, le),
    capacity: u64(v, Off.capacity, le),
    zoned: (flags & Flag.ZONED) !== 0,
    zoneSize: u64(v, Off.zoneSize, le),
    zoneCapacity: u64(v, Off.zoneCapacity, le),
    convZones: v.getUint32(Off.convZones, le),
    maxOpen: v.getUint32(Off.maxOpen, le),
    maxActive: v.getUint32(Off.maxActive, le),
    zasl: v.getUint32(Off.zasl, le),
    descrExtSize: v.getUint32(Off.descrExtSize, le),
    crossRead: (flags & Flag.CROSS_READ) !== 0,
    zoneModel: (flags & Flag.HOST_AWARE) !== 0 ? 'host-aware' : 'host-managed',
    autoTransition: (flags & Flag.AUTO_TRANSITION) !== 0,
    // Meaningful only with their feature bit: an older writer leaves (or zeroes) these bytes.
    zrwas: (incompat & Incompat.ZRWA) !== 0 ? v.getUint32(Off.zrwas, le) : 0,
    zrwafg: (incompat & Incompat.ZRWA) !== 0 ? v.getUint32(Off.zrwafg, le) : 0,
    numzrwa: (incompat & Incompat.ZRWA) !== 0 ? v.getUint32(Off.numzrwa, le) : 0,
    rrl: (incompat & Incompat.DEVICE_TIMERS) !== 0 ? v.getUint32(Off.rrl, le) : 0,
    frl: (incompat & Incompat.DEVICE_TIMERS) !== 0 ? v.getUint32(Off.frl, le) : 0,
  };
  if (incompatFor(geometry) !== incompat) {
    throw new FormatError(file, 'incompatible features', `0x${incompat.toString(16)} does not match the geometry it describes (ZRWA size ${geometry.zrwas}, RRL ${geometry.rrl}, FRL ${geometry.frl})`);
  }
  const nrZones = v.getUint32(Off.nrZones, le);
  const expectedZones = geometry.zoned ? geometry.capacity / geometry.zoneSize : 0;
  if (nrZones !== expectedZones) {
    throw new FormatError(file, 'zone count', `${nrZones} does not match capacity / zone size (${expectedZones})`);
  }
  const recordsOffset = u64(v, Off.recordsOffset, le);
  const extOffset = u64(v, Off.extOffset, le);
  const want = layout(nrZones, geometry.descrExtSize);
  if (recordsOffset !== want.recordsOffset) {
    throw new FormatError(file, 'records offset', `${recordsOffset}, expected ${want.recordsOffset}`);
  }
  if (extOffset !== want.extOffset) throw new FormatError(file, 'extension offset', `${extOffset}, expected ${want.extOffset}`);
  const faultsOffset = u64(v, Off.faultsOffset, le);
  if (faultsOffset !== want.faultsOffset) throw new FormatError(file, 'faults offset', `${faultsOffset}, expected ${want.faultsOffset}`);
  if (v.getUint32(Off.faultsSize, le) !== FAULTS_SIZE) {
    throw new FormatError(file, 'faults size', `${v.getUint32(Off.faultsSize, le)}, expected ${FAULTS_SIZE}`);
  }
  if (fileSize < want.size) {
    throw new FormatError(file, 'file size', `${fileSize} bytes, but ${nrZones} zone records need ${want.size}: the file is truncated`);
  }
  const nameBytes = buf.subarray(Off.name, Off.name + Off.nameLength);
  const nul = nameBytes.indexOf(0);
  const compat = v.getUint32(Off.compat, le) & KNOWN_COMPAT;
  const seq = (compat & Compat.HEADER_COPY) !== 0 ? u64(v, Off.headerSeq, le) : 0;
  return {
    endianness: le ? 'little' : 'big',
    version,
    flags,
    geometry,
    nrZones,
    uuid: uuidString(buf.subarray(Off.uuid, Off.uuid + 16)),
    created: u64(v, Off.created, le),
    mountCount: v.getUint32(Off.mountCount, le),
    uncleanCount: v.getUint32(Off.uncleanCount, le),
    lastOpened: u64(v, Off.lastOpened, le),
    recordsOffset,
    extOffset,
    faultsOffset,
    name: nameBytes.subarray(0, nul < 0 ? nameBytes.length : nul).toString('utf8'),
    clockOffset: Number.isNaN(u64(v, Off.clockOffset, le)) ? 0 : u64(v, Off.clockOffset, le),
    compat,
    headerSeq: Number.isNaN(seq) ? 0 : seq,
  };
}

export function flagsFor(g: Geometry, clean: boolean, detached = false, volatileCache = false): number {
  return (clean ? Flag.CLEAN : 0) |
    (volatileCache ? Flag.VOLATILE_CACHE : 0) |
    (g.zoned ? Flag.ZONED : 0) |
    (g.crossRead ? Flag.CROSS_READ : 0) |
    (g.autoTransition ? Flag.AUTO_TRANSITION : 0) |
    (g.zoneModel === 'host-aware' ? Flag.HOST_AWARE : 0) |
    (detached ? Flag.DETACHED : 0);
}

/** CRC-32 (zlib polynomial) lookup table, for checksumming records in place. */
const CRC_TABLE = (() => {
  const t = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c;
  }
  return t;
})();

/**
 * CRC-32 of buf[start, end), equal to zlib's crc32(buf.subarray(start, end)). For the 60 bytes of
 * a record it is about twice as fast as zlib's (no subarray, no native call) and allocates nothing.
 */
export function crc32Range(buf: Uint8Array, start: number, end: number): number {
  let c = -1;
  for (let i = start; i < end; i++) c = CRC_TABLE[(c ^ buf[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}

/** Encodes zone records into a caller-owned buffer (reused on the write path). */
export class RecordCodec {
  private readonly le: boolean;
  constructor(readonly endianness: Endianness) {
    this.le = endianness === 'little';
  }

  encode(r: ZoneRecord, buf: Buffer, at = 0): void {
    this.encodeFields(buf, at, r.state, r.type, r.attrs, r.flags, r.wp, r.lbasWritten, r.resets, r.finishes, r.extCrc, r.durableWp,
      r.zrwaEnd ?? r.wp, r.timerSince ?? -1, r.durableZrwaEnd ?? -1);
  }

  /**
   * encode() without a ZoneRecord object: the write path encodes one record per write, always
   * into the same buffer, so the DataView over it is kept. Every byte of the record is written
   * (reserved ones as zero): no fill, no subarray, no allocation per call.
   */
  encodeFields(
    buf: Buffer, at: number, state: number, type: number, attrs: number, flags: number, wp: number,
    lbasWritten: number, resets: number, finishes: number, extCrc: number, durableWp: number,
    zrwaEnd = wp, timerSince = -1, durableZrwaEnd = -1,
  ): void {
    const v = this.viewOf(buf);
    const le = this.le;
    v.setUint8(at + RecOff.state, state);
    v.setUint8(at + RecOff.type, type);
    v.setUint8(at + RecOff.attrs, attrs);
    v.setUint8(at + RecOff.flags, flags);
    v.setUint32(at + RecOff.zrwaExtent, zrwaEnd > wp ? zrwaEnd - wp : 0, le);
    setU64(v, at + RecOff.wp, wp, le);
    setU64(v, at + RecOff.lbasWritten, lbasWritten, le);
    v.setUint32(at + RecOff.resets, resets >>> 0, le);
    v.setUint32(at + RecOff.finishes, finishes >>> 0, le);
    v.setUint32(at + RecOff.extCrc, extCrc >>> 0, le);
    setU64(v, at + RecOff.durableWp, durableWp, le);
    setU64(v, at + RecOff.timerSince, timerSince > 0 ? timerSince : 0, le);
    v.setUint32(at + RecOff.durableZrwa, durableZrwaEnd >= durableWp ? durableZrwaEnd - durableWp + 1 : 0, le);
    v.setUint32(at + RecOff.durableZrwa + 4, 0, le); // reserved
    v.setUint32(at + RecOff.checksum, crc32Range(buf, at, at + RecOff.checksum), le);
  }

  /** One DataView per buffer, not per record. */
  private viewOf(buf: Buffer): DataView {
    if (this.lastBuf !== buf || this.lastView === undefined) {
      this.lastBuf = buf;
      this.lastView = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    }
    return this.lastView;
  }

  /** Decode one record; returns the field name at fault instead of throwing. */
  decode(buf: Buffer, at: number): ZoneRecord | string {
    return this.decodeInto(buf, at, {} as ZoneRecord);
  }

  /** Decode into `r` (reused when loading 100k+ records, to spare the garbage collector). */
  decodeInto(buf: Buffer, at: number, r: ZoneRecord): ZoneRecord | string {
    const v = this.viewOf(buf);
    const le = this.le;
    const stored = v.getUint32(at + RecOff.checksum, le);
    if (stored !== crc32Range(buf, at, at + RecOff.checksum)) return 'record checksum';
    const wp = u64(v, at + RecOff.wp, le);
    if (Number.isNaN(wp)) return 'write pointer';
    r.state = v.getUint8(at + RecOff.state);
    r.type = v.getUint8(at + RecOff.type);
    r.attrs = v.getUint8(at + RecOff.attrs);
    r.flags = v.getUint8(at + RecOff.flags);
    r.wp = wp;
    r.lbasWritten = u64(v, at + RecOff.lbasWritten, le);
    r.resets = v.getUint32(at + RecOff.resets, le);
    r.finishes = v.getUint32(at + RecOff.finishes, le);
    r.extCrc = v.getUint32(at + RecOff.extCrc, le);
    r.durableWp = u64(v, at + RecOff.durableWp, le);
    r.zrwaEnd = wp + v.getUint32(at + RecOff.zrwaExtent, le);
    const since = u64(v, at + RecOff.timerSince, le);
    r.timerSince = since > 0 ? since : -1;
    const dz = v.getUint32(at + RecOff.durableZrwa, le);
    r.durableZrwaEnd = dz === 0 ? -1 : r.durableWp! + dz - 1;
    return r;
  }

  /** One DataView per buffer, not per record. */
  private lastBuf: Buffer | undefined;
  private lastView: DataView | undefined;
}

export { crc32 };
