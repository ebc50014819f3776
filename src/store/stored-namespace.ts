/**
 * One namespace of a store: the zone engine bound to its two files.
 *
 *   <name>.data   sparse raw image of exactly `capacity` bytes
 *   <name>.zmeta  sidecar: header, one 64-byte record per zone, descriptor extensions
 *
 * Durability rules (docs/format.md §Durability):
 * - write path: data pwrite, then the zone record pwrite, then acknowledge. Both land in the
 *   kernel's page cache before we answer, so an acknowledged write survives kill -9 of the
 *   daemon; flush() (fsync) makes everything acknowledged survive a host crash.
 * - if persisting a record fails, the engine is rolled back and the error is thrown.
 * - the header's CLEAN flag is cleared (and synced) at open and set at a clean close, so an
 *   unclean shutdown is detected at the next open.
 * The sidecar is accessed with pread/pwrite only, never mmap.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomUUID } from 'node:crypto';
import { Geometry, GEOMETRY_FIELDS, resolveGeometry } from '../engine/geometry.js';
import { Rejection } from '../engine/status.js';
import { ZoneState, ZoneAttr } from '../engine/zone.js';
import { ZonedNamespace, ZoneCommand, FaultCommand, ZoneLoadError } from '../engine/namespace.js';
import {
  Endianness, FormatError, FORMAT_VERSION, HEADER_SIZE, Header, RECORD_SIZE, RecordCodec, ZoneRecord,
  crc32, decodeHeader, encodeHeader, flagsFor, layout, Flag,
} from './format.js';
import { allocatedRanges, punchHole } from '../native/libc.js';
import { Logger, silentLogger } from '../log.js';

export const DATA_SUFFIX = '.data';
export const META_SUFFIX = '.zmeta';

export interface OpenOptions {
  logger?: Logger;
  /** Geometry the caller expects; any field that differs is refused. */
  expect?: Partial<Geometry>;
  /** Inspect only: no header update, no start-up transition, no writes at all. */
  readOnly?: boolean;
  /** Test hook: called before every sidecar write. */
  beforeMetaWrite?: () => void;
}

export interface CreateOptions {
  endianness?: Endianness;
}

function writeFully(fd: number, buf: Uint8Array, off: number, len: number, pos: number): void {
  while (len > 0) {
    const n = fs.writeSync(fd, buf, off, len, pos);
    off += n;
    len -= n;
    pos += n;
  }
}

/** Read len bytes at pos; anything past the end of the file reads as zeros. */
function readFully(fd: number, buf: Uint8Array, off: number, len: number, pos: number): void {
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

export function namespacePaths(dir: string, name: string): { data: string; meta: string } {
  return { data: path.join(dir, name + DATA_SUFFIX), meta: path.join(dir, name + META_SUFFIX) };
}

function recordOf(ns: ZonedNamespace, z: number, extCrc: number): ZoneRecord {
  return {
    state: ns.stateOf(z),
    type: ns.typeOf(z),
    attrs: ns.attrsOf(z),
    flags: ns.flagsOf(z),
    wp: ns.wpOf(z),
    lbasWritten: ns.lbasWrittenOf(z),
    resets: ns.resetsOf(z),
    finishes: ns.finishesOf(z),
    extCrc,
  };
}

export class StoredNamespace {
  readonly name: string;
  readonly dataPath: string;
  readonly metaPath: string;
  readonly engine: ZonedNamespace;
  readonly lbaSize: number;
  readonly capacity: number;
  /** Zone size in bytes (0 when not zoned). */
  readonly zoneBytes: number;
  /** True when the previous owner did not close the namespace cleanly. */
  readonly recoveredFromUncleanShutdown: boolean;
  private header: Header;
  private readonly codec: RecordCodec;
  private readonly recBuf = Buffer.alloc(RECORD_SIZE);
  private dataFd: number;
  private metaFd: number;
  private readonly log: Logger;
  private readonly readOnly: boolean;
  private readonly beforeMetaWrite: (() => void) | undefined;
  private punchWarned = false;
  /** CRC of each zone's descriptor extension, so record writes need not recompute it. */
  private readonly extCrcs = new Map<number, number>();
  private closed = false;

  /** Create the two files of a new namespace. The sidecar appears atomically (rename). */
  static create(dir: string, name: string, geometry: Partial<Geometry>, opts: CreateOptions = {}): Header {
    const g = resolveGeometry(geometry);
    const p = namespacePaths(dir, name);
    if (fs.existsSync(p.meta)) throw new Error(`namespace ${name} already exists in ${dir}`);
    const engine = new ZonedNamespace(g);
    const { recordsOffset, extOffset, size } = layout(engine.nrZones, g.descrExtSize);
    const now = Date.now();
    const header: Header = {
      endianness: opts.endianness ?? 'little',
      version: FORMAT_VERSION,
      flags: flagsFor(g, true),
      geometry: g,
      nrZones: engine.nrZones,
      uuid: randomUUID(),
      created: now,
      mountCount: 0,
      uncleanCount: 0,
      lastOpened: 0,
      recordsOffset,
      extOffset,
      name,
    };

    // Data first: a crash before the sidecar's rename leaves only an orphan image, which the
    // store removes at its next open.
    const dataFd = fs.openSync(p.data, 'w', 0o644);
    try {
      fs.ftruncateSync(dataFd, g.capacity);
      fs.fsyncSync(dataFd);
    } finally {
      fs.closeSync(dataFd);
    }

    const tmp = p.meta + '.tmp';
    const fd = fs.openSync(tmp, 'w', 0o644);
    try {
      writeFully(fd, encodeHeader(header), 0, HEADER_SIZE, 0);
      // Every record is written (not left sparse) so later overwrites never need new blocks.
      const codec = new RecordCodec(header.endianness);
      const chunkZones = 4096;
      const chunk = Buffer.alloc(chunkZones * RECORD_SIZE);
      for (let z0 = 0; z0 < engine.nrZones; z0 += chunkZones) {
        const n = Math.min(chunkZones, engine.nrZones - z0);
        for (let i = 0; i < n; i++) codec.encode(recordOf(engine, z0 + i, 0), chunk, i * RECORD_SIZE);
        writeFully(fd, chunk, 0, n * RECORD_SIZE, recordsOffset + z0 * RECORD_SIZE);
      }
      if (size > extOffset) {
        const zero = Buffer.alloc(Math.min(1 << 20, size - extOffset));
        for (let pos = extOffset; pos < size; pos += zero.length) {
          writeFully(fd, zero, 0, Math.min(zero.length, size - pos), pos);
        }
      }
      fs.ftruncateSync(fd, size);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, p.meta);
    fsyncDir(dir);
    return header;
  }

  static open(dir: string, name: string, opts: OpenOptions = {}): StoredNamespace {
    return new StoredNamespace(dir, name, opts);
  }

  private constructor(dir: string, name: string, opts: OpenOptions) {
    this.name = name;
    const p = namespacePaths(dir, name);
    this.dataPath = p.data;
    this.metaPath = p.meta;
    this.log = (opts.logger ?? silentLogger).child({ ns: name });
    this.readOnly = opts.readOnly === true;
    this.beforeMetaWrite = opts.beforeMetaWrite;
    const mode = this.readOnly ? 'r' : 'r+';

    this.metaFd = fs.openSync(this.metaPath, mode);
    this.dataFd = -1;
    try {
      const metaSize = fs.fstatSync(this.metaFd).size;
      const hbuf = Buffer.alloc(HEADER_SIZE);
      readFully(this.metaFd, hbuf, 0, Math.min(HEADER_SIZE, metaSize), 0);
      this.header = decodeHeader(this.metaPath, metaSize < HEADER_SIZE ? hbuf.subarray(0, metaSize) : hbuf, metaSize);
      const g = this.header.geometry;
      if (opts.expect) checkExpectedGeometry(this.metaPath, g, opts.expect);
      try {
        this.engine = new ZonedNamespace(g);
      } catch (e) {
        throw new FormatError(this.metaPath, (e as { field?: string }).field ?? 'geometry', (e as Error).message);
      }
      this.lbaSize = g.lbaSize;
      this.capacity = g.capacity;
      this.zoneBytes = g.zoneSize;
      this.codec = new RecordCodec(this.header.endianness);
      this.loadZones();

      this.dataFd = fs.openSync(this.dataPath, mode);
      const dataSize = fs.fstatSync(this.dataFd).size;
      if (dataSize !== g.capacity) {
        throw new FormatError(this.dataPath, 'size', `${dataSize} bytes, but the namespace capacity is ${g.capacity}`);
      }
      this.recoveredFromUncleanShutdown = (this.header.flags & Flag.CLEAN) === 0;
      if (!this.readOnly) this.startUp();
    } catch (e) {
      this.closeFds();
      throw e;
    }
  }

  private loadZones(): void {
    const h = this.header;
    const n = h.nrZones;
    const chunkZones = 16384;
    const buf = Buffer.alloc(Math.min(n, chunkZones) * RECORD_SIZE);
    const extSize = h.geometry.descrExtSize;
    for (let z0 = 0; z0 < n; z0 += chunkZones) {
      const cnt = Math.min(chunkZones, n - z0);
      readFully(this.metaFd, buf, 0, cnt * RECORD_SIZE, h.recordsOffset + z0 * RECORD_SIZE);
      for (let i = 0; i < cnt; i++) {
        const z = z0 + i;
        const rec = this.codec.decode(buf, i * RECORD_SIZE);
        if (typeof rec === 'string') {
          throw new FormatError(this.metaPath, `zone ${z} ${rec}`, 'mismatch: the zone record is corrupt');
        }
        if (rec.type !== this.engine.typeOf(z)) {
          throw new FormatError(this.metaPath, `zone ${z} type`, `${rec.type}, but the geometry makes it ${this.engine.typeOf(z)}`);
        }
        let ext: Uint8Array | undefined;
        if ((rec.attrs & ZoneAttr.ZDEV) !== 0 && extSize > 0) {
          ext = Buffer.alloc(extSize);
          readFully(this.metaFd, ext, 0, extSize, h.extOffset + z * extSize);
          if (crc32(ext) !== rec.extCrc) {
            throw new FormatError(this.metaPath, `zone ${z} extension checksum`, 'mismatch: the descriptor extension is corrupt');
          }
          this.extCrcs.set(z, rec.extCrc);
        }
        try {
          this.engine.loadZone(z, { ...rec, ext });
        } catch (e) {
          if (e instanceof ZoneLoadError) throw new FormatError(this.metaPath, `zone ${z} ${e.field}`, e.message);
          throw e;
        }
      }
    }
    try {
      this.engine.finishLoad();
    } catch (e) {
      if (e instanceof ZoneLoadError) throw new FormatError(this.metaPath, `${e.field} zones`, e.message);
      throw e;
    }
  }

  /** Power-up: detect an unclean shutdown, apply ZNS §2.1.1.3, and mark the sidecar in use. */
  private startUp(): void {
    const h = this.header;
    if (this.recoveredFromUncleanShutdown) {
      h.uncleanCount++;
      const scrubbed = this.discardUnacknowledgedData();
      this.log.warn({ mountCount: h.mountCount, uncleanCount: h.uncleanCount, zonesScrubbed: scrubbed },
        `unclean shutdown detected for namespace ${this.name}: zone states and write pointers recovered from the sidecar`);
    }
    if (this.engine.openExcess > 0) {
      this.log.warn({ excess: this.engine.openExcess }, 'more open zones than the limit on disk (a crash during an implicit close); all are closed now');
    }
    const changed = this.engine.powerCycleTransition();
    if (changed.length > 0) {
      this.persistZones(changed);
      this.log.info({ zones: changed.length }, 'open zones closed at start-up (ZNS power-up transition)');
    }
    h.flags &= ~Flag.CLEAN;
    h.mountCount++;
    h.lastOpened = Date.now();
    this.writeHeader();
  }

  /**
   * After a crash, data above a write pointer belongs to writes that were never acknowledged.
   * Punch it out so the image matches what the device reports (reads above the write pointer
   * return zeros either way). One SEEK_DATA per sequential zone.
   */
  private discardUnacknowledgedData(): number {
    const e = this.engine;
    let scrubbed = 0;
    for (let z = e.convZones; z < e.nrZones; z++) {
      const from = z * this.zoneBytes + e.dataLbas(z) * this.lbaSize;
      const end = (z + 1) * this.zoneBytes;
      if (from >= end) continue;
      const ranges = allocatedRanges(this.dataFd, from, end);
      if (ranges.length === 0) continue;
      for (const [a, b] of ranges) this.punch(a, b - a);
      scrubbed++;
    }
    return scrubbed;
  }

  get geometry(): Readonly<Geometry> {
    return this.header.geometry;
  }

  get info(): Readonly<Header> {
    return this.header;
  }

  // ---------------------------------------------------------------------------------------------
  // I/O

  /**
   * Read `length` bytes at byte `offset` into buf[at..]. Below a zone's write pointer the data,
   * above it zeros. Returns the byte count (short at the end of the namespace) or a Rejection
   * (offline zone, cross-zone read when those are off).
   */
  read(offset: number, buf: Uint8Array, at: number, length: number): Rejection | number {
    if (offset >= this.capacity || length <= 0) return 0;
    const len = Math.min(length, this.capacity - offset);
    const e = this.engine;
    if (!e.zoned) {
      readFully(this.dataFd, buf, at, len, offset);
      return len;
    }
    const lba = this.lbaSize;
    const slba = Math.floor(offset / lba);
    const r = e.checkRead(slba, Math.ceil((offset + len) / lba) - slba);
    if (r) return r;
    let pos = offset;
    let done = 0;
    const end = offset + len;
    while (pos < end) {
      const z = Math.floor(pos / this.zoneBytes);
      const zoneStart = z * this.zoneBytes;
      const segEnd = Math.min(end, zoneStart + this.zoneBytes);
      const dataEnd = zoneStart + e.dataLbas(z) * lba;
      const readable = Math.max(0, Math.min(dataEnd, segEnd) - pos);
      if (readable > 0) readFully(this.dataFd, buf, at + done, readable, pos);
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
  write(slba: number, buf: Uint8Array, at: number, len: number): Rejection | undefined {
    const nlb = len / this.lbaSize;
    const r = this.engine.checkWrite(slba, nlb);
    if (r) return r;
    writeFully(this.dataFd, buf, at, len, slba * this.lbaSize);
    this.engine.commitWrite(slba, nlb);
    this.persistLastChanges();
    return undefined;
  }

  /**
   * Write bytes anywhere in conventional space (conventional zones or a non-zoned namespace),
   * without LBA alignment: what a page cache would do for a buffered writer.
   */
  writeRandom(offset: number, buf: Uint8Array, at: number, len: number): Rejection | undefined {
    const lba = this.lbaSize;
    const slba = Math.floor(offset / lba);
    const nlb = Math.ceil((offset + len) / lba) - slba;
    const e = this.engine;
    if (e.zoned && slba < e.nlba && !e.isConventional(e.zoneOf(slba))) {
      throw new Error('writeRandom: offset is in a sequential zone');
    }
    // Refuses ranges outside the namespace and ranges that run into sequential space.
    const r = e.checkWrite(slba, nlb);
    if (r) return r;
    writeFully(this.dataFd, buf, at, len, offset);
    return undefined;
  }

  /** Zone Append of whole LBAs: returns the LBA where the data landed. */
  append(zone: number, buf: Uint8Array, at: number, len: number): Rejection | number {
    const nlb = len / this.lbaSize;
    const lba = this.engine.checkAppend(zone, nlb);
    if (typeof lba !== 'number') return lba;
    writeFully(this.dataFd, buf, at, len, lba * this.lbaSize);
    this.engine.append(zone, nlb);
    this.persistLastChanges();
    return lba;
  }

  /** Make everything acknowledged so far durable (data and sidecar). */
  flush(): void {
    fs.fdatasyncSync(this.dataFd);
    fs.fdatasyncSync(this.metaFd);
  }

  // ---------------------------------------------------------------------------------------------
  // Zone management

  manage(cmd: ZoneCommand, zone: number | 'all'): Rejection | undefined {
    const r = this.engine.manage(cmd, zone);
    if (r) return r;
    const changed = this.persistLastChanges();
    if (cmd === 'reset') this.punchZones(changed);
    return undefined;
  }

  setDescriptorExtension(zone: number, data: Uint8Array): Rejection | undefined {
    const r = this.engine.setDescriptorExtension(zone, data);
    if (r) return r;
    this.extCrcs.delete(zone);
    this.persistLastChanges(true);
    return undefined;
  }

  injectFault(kind: FaultCommand, zone: number): Rejection | undefined {
    const r = this.engine.injectFault(kind, zone);
    if (r) return r;
    this.persistLastChanges();
    return undefined;
  }

  clearFault(zone: number): Rejection | undefined {
    const r = this.engine.clearFault(zone);
    if (r) return r;
    this.punchZones(this.persistLastChanges());
    return undefined;
  }

  /** The spec's shutdown transitions without closing (open zones → Closed or Empty). */
  shutdownTransition(): number[] {
    this.engine.powerCycleTransition();
    return this.persistLastChanges();
  }

  /** Bytes of the data file actually allocated (st_blocks × 512). */
  allocatedBytes(): number {
    return fs.fstatSync(this.dataFd).blocks * 512;
  }

  /** Allocated byte ranges of the data file in [start, end). */
  allocatedRanges(start: number, end: number): Array<[number, number]> {
    return allocatedRanges(this.dataFd, start, end);
  }

  // ---------------------------------------------------------------------------------------------
  // Persistence

  /** Persist the zones the engine changed in its last operation; roll back on failure. */
  private persistLastChanges(writeExt = false): number[] {
    const changed = this.engine.lastChanges();
    if (changed.length === 0) return changed;
    try {
      this.persistZones(changed, writeExt);
    } catch (e) {
      this.engine.revertLastOperation();
      try {
        this.persistZones(changed, writeExt);
      } catch {
        // The sidecar cannot be written at all; the in-memory state is the last good one.
      }
      this.log.error({ err: e, zones: changed }, 'metadata write failed; operation rolled back');
      throw e;
    }
    return changed;
  }

  private persistZones(zones: number[], writeExt = false): void {
    if (this.readOnly) throw new Error(`${this.metaPath} is open read-only`);
    this.beforeMetaWrite?.();
    const h = this.header;
    const extSize = h.geometry.descrExtSize;
    if (zones.length <= 8) {
      // In the engine's order: a zone closed to make room goes to disk before the zone opened.
      for (const z of zones) {
        this.writeZone(z, extSize, this.recBuf, 0, writeExt);
        writeFully(this.metaFd, this.recBuf, 0, RECORD_SIZE, h.recordsOffset + z * RECORD_SIZE);
      }
      return;
    }
    // Many zones (select-all, start-up): coalesce adjacent records into one pwrite.
    const sorted = zones.slice().sort((a, b) => a - b);
    let i = 0;
    while (i < sorted.length) {
      let j = i + 1;
      while (j < sorted.length && sorted[j] === sorted[j - 1]! + 1 && j - i < 16384) j++;
      const buf = Buffer.alloc((j - i) * RECORD_SIZE);
      for (let k = i; k < j; k++) this.writeZone(sorted[k]!, extSize, buf, (k - i) * RECORD_SIZE, writeExt);
      writeFully(this.metaFd, buf, 0, buf.length, h.recordsOffset + sorted[i]! * RECORD_SIZE);
      i = j;
    }
  }

  /**
   * Encode zone z's record into buf. The extension data, when `writeExt`, is written first so
   * that the record's checksum of it never points at data not yet written.
   */
  private writeZone(z: number, extSize: number, buf: Buffer, at: number, writeExt: boolean): void {
    const e = this.engine;
    let extCrc = 0;
    const ext = (e.attrsOf(z) & ZoneAttr.ZDEV) !== 0 ? e.extOf(z) : undefined;
    if (ext && extSize > 0) {
      extCrc = this.extCrcs.get(z) ?? crc32(ext);
      if (writeExt) writeFully(this.metaFd, ext, 0, extSize, this.header.extOffset + z * extSize);
      this.extCrcs.set(z, extCrc);
    } else {
      this.extCrcs.delete(z);
    }
    this.codec.encode(recordOf(e, z, extCrc), buf, at);
  }

  private writeHeader(): void {
    this.beforeMetaWrite?.();
    writeFully(this.metaFd, encodeHeader(this.header), 0, HEADER_SIZE, 0);
    fs.fdatasyncSync(this.metaFd);
  }

  /**
   * Free the space of zones that are now Empty. The sidecar is synced first: otherwise a host
   * crash could keep the old write pointer on disk while the data under it is already gone.
   */
  private punchZones(zones: number[]): void {
    const empty = zones.filter((z) => this.engine.stateOf(z) === ZoneState.EMPTY);
    if (empty.length === 0) return;
    fs.fdatasyncSync(this.metaFd);
    for (const z of empty) this.punch(z * this.zoneBytes, this.zoneBytes);
  }

  private punch(offset: number, length: number): void {
    try {
      punchHole(this.dataFd, offset, length);
    } catch (e) {
      // Reads above the write pointer return zeros regardless; only the space stays allocated.
      if (!this.punchWarned) {
        this.punchWarned = true;
        this.log.warn({ err: e }, 'cannot punch holes in the data file; reset zones keep their disk space');
      }
    }
  }

  /** Close; with `clean` (the default) the sidecar is marked cleanly shut down. */
  close(clean = true): void {
    if (this.closed) return;
    this.closed = true;
    try {
      if (!this.readOnly && clean) {
        // A clean stop is the controller's shutdown: open zones become Closed (or Empty).
        this.shutdownTransition();
        this.flush();
        this.header.flags |= Flag.CLEAN;
        this.writeHeader();
      }
    } finally {
      this.closeFds();
    }
  }

  private closeFds(): void {
    if (this.dataFd >= 0) fs.closeSync(this.dataFd);
    if (this.metaFd >= 0) fs.closeSync(this.metaFd);
    this.dataFd = this.metaFd = -1;
  }
}

function checkExpectedGeometry(file: string, actual: Geometry, expect: Partial<Geometry>): void {
  for (const f of GEOMETRY_FIELDS) {
    const want = expect[f];
    if (want === undefined) continue;
    if (actual[f] !== want) {
      throw new FormatError(file, f, `geometry mismatch: the store has ${String(actual[f])}, ${String(want)} was asked for`);
    }
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
