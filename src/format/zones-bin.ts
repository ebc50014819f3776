/**
 * `NAME.zones/zones.bin`: the binary zone report (docs/zones-bin.md). A 64-byte header with the
 * geometry, limits, live counts and a generation number, then one 48-byte little-endian record
 * per zone. The mount answers any byte range straight from the engine, encoding only the records
 * the range touches, so a client (the preload library, the web view) can read one zone or 100,000
 * without the daemon building the whole file. On a mount (header flag CHANGE_SEQ) every record
 * carries the sequence number of the zone's latest change, and `changes.bin` (changes-bin.ts)
 * says which groups of zones changed since a generation, so a follower reads only those records.
 */
import { ZoneDescriptor, ZonedNamespace } from '../engine/namespace.js';
import { ZoneState, ZoneType } from '../engine/zone.js';

export const ZONES_BIN_MAGIC = 'ZFZB';
export const ZONES_BIN_VERSION = 1;
export const ZONES_BIN_HEADER_SIZE = 64;
export const ZONES_BIN_RECORD_SIZE = 48;

/** Bits of a record's flags byte (offset 43). */
export const ZoneRecordFlag = Object.freeze({
  /** A host-aware zone was written away from its write pointer (Linux blk_zone.non_seq). */
  NON_SEQ: 0x01,
});

/** Bits of the header's flags field (offset 10). */
export const ZonesBinFlag = Object.freeze({
  /**
   * Change tracking: the generation is EPOCH << 32 | COUNT, each record's bytes 44-47 hold the
   * COUNT just after the zone's latest change in this epoch (0: none), and `changes.bin` beside
   * the file summarises them per group of zones (docs/zones-bin.md, "Following changes").
   */
  CHANGE_SEQ: 0x0001,
});

/** The generation's halves: a new epoch means "read everything"; the count orders the changes. */
export function generationEpoch(generation: bigint): number {
  return Number(BigInt.asUintN(64, generation) >> 32n);
}

export function generationCount(generation: bigint): number {
  return Number(BigInt.asUintN(32, generation));
}

export function makeGeneration(epoch: number, count: number): bigint {
  return (BigInt(epoch >>> 0) << 32n) | BigInt(count >>> 0);
}

/**
 * A mount's change tracking for one namespace (vfs/zone-changes.ts keeps it): which zones
 * changed in the current epoch, and when.
 */
export interface ZoneChangeState {
  /** High half of the generation: new at every mount and attach, and when the count runs out. */
  readonly epoch: number;
  /** Low half: moves with every change (never wraps within an epoch). */
  readonly count: number;
  /** Per zone: the count just after its latest change in this epoch; 0 = not changed in it. */
  readonly zoneSeq: Uint32Array;
  /** Per group of `groupZones` zones: the highest zoneSeq of its zones. */
  readonly groupSeq: Uint32Array;
  readonly groupZones: number;
}

export interface ZonesBinHeader {
  version: number;
  headerSize: number;
  recordSize: number;
  flags: number;
  nrZones: number;
  lbaSize: number;
  /** 0 = no limit. */
  maxOpen: number;
  /** 0 = no limit. */
  maxActive: number;
  openZones: number;
  activeZones: number;
  /** Zone append size limit in bytes (0 = none). */
  zoneAppendBytes: number;
  zoneLbas: number;
  /** Changes whenever a zone changes; differs after a remount or a power cycle. */
  generation: bigint;
  conventionalZones: number;
}

export interface ZoneRecord {
  zone: number;
  start: number;
  /** Absolute LBA; start + capacity for a Full zone, start for a conventional one. */
  wp: number;
  capacity: number;
  lbasWritten: number;
  resets: number;
  finishes: number;
  /** ZonesBinFlag.CHANGE_SEQ: the generation count just after the zone's latest change (0: none this epoch). */
  changeSeq: number;
  type: ZoneType;
  state: ZoneState;
  /** NVMe Zone Attributes byte (ZFC 0x01, FZR 0x02, RZR 0x04, ZRWA valid 0x08, ZDEV 0x80). */
  attrs: number;
  /** ZoneRecordFlag bits. */
  flags: number;
}

export class ZonesBinError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ZonesBinError';
  }
}

export function zonesBinSize(nrZones: number): number {
  return ZONES_BIN_HEADER_SIZE + ZONES_BIN_RECORD_SIZE * nrZones;
}

/** What the file needs beyond the engine: the mount's change tracking. */
export interface ZonesBinSource {
  readonly engine: ZonedNamespace;
  /** A mount's change tracking; without it (a store read from its files) CHANGE_SEQ is clear and every sequence number 0. */
  readonly changes?: ZoneChangeState;
  /** The generation to report without change tracking (default 0). */
  readonly generation?: bigint;
}

export function zonesBinGeneration(src: ZonesBinSource): bigint {
  return src.changes ? makeGeneration(src.changes.epoch, src.changes.count) : BigInt.asUintN(64, src.generation ?? 0n);
}

function encodeHeader(src: ZonesBinSource, out: Buffer): void {
  const e = src.engine;
  out.fill(0, 0, ZONES_BIN_HEADER_SIZE);
  out.write(ZONES_BIN_MAGIC, 0, 'latin1');
  out.writeUInt16LE(ZONES_BIN_VERSION, 4);
  out.writeUInt16LE(ZONES_BIN_HEADER_SIZE, 6);
  out.writeUInt16LE(ZONES_BIN_RECORD_SIZE, 8);
  out.writeUInt16LE(src.changes ? ZonesBinFlag.CHANGE_SEQ : 0, 10);
  out.writeUInt32LE(e.nrZones, 12);
  out.writeUInt32LE(e.lbaSize, 16);
  out.writeUInt32LE(e.maxOpen, 20);
  out.writeUInt32LE(e.maxActive, 24);
  out.writeUInt32LE(e.openCount, 28);
  out.writeUInt32LE(e.activeCount, 32);
  out.writeUInt32LE(e.zaslLbas * e.lbaSize, 36);
  out.writeBigUInt64LE(BigInt(e.zoneLbas), 40);
  out.writeBigUInt64LE(zonesBinGeneration(src), 48);
  out.writeUInt32LE(e.convZones, 56);
}

/** Record of a described zone into out[at, at+48); `seq`: its change sequence number. */
function encodeRecord(d: ZoneDescriptor, seq: number, out: Buffer, at: number): void {
  let wp = d.wp;
  if (d.type === ZoneType.CONVENTIONAL) wp = d.zslba;
  else if (d.state === ZoneState.FULL) wp = d.zslba + d.zcap;
  // LBAs fit in 53 bits (the engine keeps them as doubles): write them as two 32-bit halves.
  out.writeUInt32LE(d.zslba % 0x1_0000_0000, at);
  out.writeUInt32LE(Math.floor(d.zslba / 0x1_0000_0000), at + 4);
  out.writeUInt32LE(wp % 0x1_0000_0000, at + 8);
  out.writeUInt32LE(Math.floor(wp / 0x1_0000_0000), at + 12);
  out.writeUInt32LE(d.zcap % 0x1_0000_0000, at + 16);
  out.writeUInt32LE(Math.floor(d.zcap / 0x1_0000_0000), at + 20);
  out.writeUInt32LE(d.lbasWritten % 0x1_0000_0000, at + 24);
  out.writeUInt32LE(Math.floor(d.lbasWritten / 0x1_0000_0000), at + 28);
  out.writeUInt32LE(d.resets, at + 32);
  out.writeUInt32LE(d.finishes, at + 36);
  out[at + 40] = d.type;
  out[at + 41] = d.state;
  out[at + 42] = d.attrs;
  out[at + 43] = d.nonSeq ? ZoneRecordFlag.NON_SEQ : 0;
  out.writeUInt32LE(seq, at + 44);
}

/**
 * Bytes [pos, pos+len) of the file into buf (from offset 0); returns the count (0 at or past
 * the end). Only the header and the records the range overlaps are encoded.
 */
export function readZonesBin(src: ZonesBinSource, buf: Buffer, len: number, pos: number): number {
  const e = src.engine;
  const size = zonesBinSize(e.nrZones);
  if (pos >= size || len <= 0) return 0;
  const n = Math.min(len, size - pos);
  let done = 0;
  if (pos < ZONES_BIN_HEADER_SIZE) {
    const h = Buffer.allocUnsafe(ZONES_BIN_HEADER_SIZE);
    encodeHeader(src, h);
    done = h.copy(buf, 0, pos, Math.min(ZONES_BIN_HEADER_SIZE, pos + n));
  }
  if (done === n) return n;
  const recPos = pos + done - ZONES_BIN_HEADER_SIZE;
  const first = Math.floor(recPos / ZONES_BIN_RECORD_SIZE);
  const last = Math.floor((recPos + (n - done) - 1) / ZONES_BIN_RECORD_SIZE);
  const d = {} as ZoneDescriptor;
  const seqs = src.changes?.zoneSeq;
  const skip = recPos - first * ZONES_BIN_RECORD_SIZE;
  const aligned = skip === 0 && (n - done) % ZONES_BIN_RECORD_SIZE === 0;
  if (aligned) {
    // The common case (whole records): encode in place.
    for (let z = first; z <= last; z++, done += ZONES_BIN_RECORD_SIZE) encodeRecord(e.describeInto(z, d), seqs ? seqs[z]! : 0, buf, done);
    return n;
  }
  const tmp = Buffer.allocUnsafe((last - first + 1) * ZONES_BIN_RECORD_SIZE);
  for (let z = first; z <= last; z++) encodeRecord(e.describeInto(z, d), seqs ? seqs[z]! : 0, tmp, (z - first) * ZONES_BIN_RECORD_SIZE);
  tmp.copy(buf, done, skip, skip + (n - done));
  return n;
}

/** The whole file (tests and small namespaces). */
export function encodeZonesBin(src: ZonesBinSource): Buffer {
  const buf = Buffer.alloc(zonesBinSize(src.engine.nrZones));
  readZonesBin(src, buf, buf.length, 0);
  return buf;
}

// -------------------------------------------------------------------------------------------------
// Decoder

export function decodeZonesBinHeader(buf: Uint8Array): ZonesBinHeader {
  if (buf.length < ZONES_BIN_HEADER_SIZE) throw new ZonesBinError(`zones.bin header needs ${ZONES_BIN_HEADER_SIZE} bytes, got ${buf.length}`);
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const magic = b.toString('latin1', 0, 4);
  if (magic !== ZONES_BIN_MAGIC) throw new ZonesBinError(`not a zones.bin file (magic ${JSON.stringify(magic)})`);
  const version = b.readUInt16LE(4);
  if (version !== ZONES_BIN_VERSION) throw new ZonesBinError(`zones.bin version ${version} is not supported (only ${ZONES_BIN_VERSION})`);
  const headerSize = b.readUInt16LE(6);
  const recordSize = b.readUInt16LE(8);
  if (headerSize < ZONES_BIN_HEADER_SIZE || recordSize < ZONES_BIN_RECORD_SIZE) {
    throw new ZonesBinError(`zones.bin header size ${headerSize} / record size ${recordSize} are too small`);
  }
  return {
    version,
    headerSize,
    recordSize,
    flags: b.readUInt16LE(10),
    nrZones: b.readUInt32LE(12),
    lbaSize: b.readUInt32LE(16),
    maxOpen: b.readUInt32LE(20),
    maxActive: b.readUInt32LE(24),
    openZones: b.readUInt32LE(28),
    activeZones: b.readUInt32LE(32),
    zoneAppendBytes: b.readUInt32LE(36),
    zoneLbas: Number(b.readBigUInt64LE(40)),
    generation: b.readBigUInt64LE(48),
    conventionalZones: b.readUInt32LE(56),
  };
}

function u64(b: Buffer, at: number): number {
  return b.readUInt32LE(at) + b.readUInt32LE(at + 4) * 0x1_0000_0000;
}

/** Decode the record at byte `at` of `buf` (zone index `zone`) into `into` (reused if given). */
export function decodeZoneRecord(buf: Uint8Array, at: number, zone: number, into: ZoneRecord = {} as ZoneRecord): ZoneRecord {
  const b = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (at + ZONES_BIN_RECORD_SIZE > b.length) throw new ZonesBinError(`zone record at byte ${at} runs past the end of the buffer (${b.length} bytes)`);
  into.zone = zone;
  into.start = u64(b, at);
  into.wp = u64(b, at + 8);
  into.capacity = u64(b, at + 16);
  into.lbasWritten = u64(b, at + 24);
  into.resets = b.readUInt32LE(at + 32);
  into.finishes = b.readUInt32LE(at + 36);
  into.changeSeq = b.readUInt32LE(at + 44);
  into.type = b[at + 40] as ZoneType;
  into.state = b[at + 41] as ZoneState;
  into.attrs = b[at + 42]!;
  into.flags = b[at + 43]!;
  return into;
}

/** Decode a whole file (or its first records: a prefix of whole records is accepted). */
export function decodeZonesBin(buf: Uint8Array): { header: ZonesBinHeader; zones: ZoneRecord[] } {
  const header = decodeZonesBinHeader(buf);
  const avail = Math.floor((buf.length - header.headerSize) / header.recordSize);
  const n = Math.min(header.nrZones, avail);
  const zones: ZoneRecord[] = new Array(n);
  for (let z = 0; z < n; z++) zones[z] = decodeZoneRecord(buf, header.headerSize + z * header.recordSize, z);
  return { header, zones };
}
