/**
 * One namespace of a store: the zone engine bound to its files.
 *
 *   <name>.data   sparse raw image of exactly `capacity` bytes
 *   <name>.zmeta  sidecar: header, one 64-byte record per zone, descriptor extensions, faults
 *   <name>.undo   only with the volatile write cache: pre-images of conventional overwrites
 *
 * Durability rules (docs/format.md §9):
 * - write path: data pwrite, then the zone record pwrite, then acknowledge. Both land in the
 *   kernel's page cache before we answer, so an acknowledged write survives kill -9 of the
 *   daemon; flush() (fsync) makes everything acknowledged survive a host crash.
 * - with the volatile write cache on, a write is acknowledged before it is durable *for the
 *   emulated device*: each record keeps the write pointer as of the last flush (durableWp), and
 *   a power loss (or a daemon that dies) rolls zones back to it. Zone management is durable and
 *   makes the zone's earlier writes durable.
 * - if persisting a record fails, the engine is rolled back and the error is thrown.
 * - the header's CLEAN flag is cleared (and synced) at open and set at a clean close, so an
 *   unclean shutdown is detected at the next open.
 * The sidecar is accessed with pread/pwrite only, never mmap.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomUUID } from 'node:crypto';
import { Geometry, GEOMETRY_FIELDS, resolveGeometry } from '../engine/geometry.js';
import { Rejection, Status } from '../engine/status.js';
import { ZoneState, ZoneAttr } from '../engine/zone.js';
import { ZonedNamespace, ZoneCommand, FaultCommand, ZoneLoadError } from '../engine/namespace.js';
import {
  Endianness, FormatError, FORMAT_VERSION, HEADER_SIZE, Header, RECORD_SIZE, FAULTS_SIZE, RecordCodec, ZoneRecord,
  crc32, decodeHeader, encodeHeader, flagsFor, layout, Flag,
} from './format.js';
import { BadRange, FaultTable, RandomFaults, formatRandom, formatRange } from './faults.js';
import { UndoLog } from './undo-log.js';
import { readFully, writeFully, fsyncDir } from './io.js';
import { allocatedRanges, punchHole } from '../native/libc.js';
import { Logger, silentLogger } from '../log.js';

export { fsyncDir };

export const DATA_SUFFIX = '.data';
export const META_SUFFIX = '.zmeta';
export const UNDO_SUFFIX = '.undo';

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
  volatileCache?: boolean;
}

export type PowerEvent = 'power-loss' | 'shutdown';

/** How much of a reset zone one background step frees (about 1-3 ms of file-system work). */
const PUNCH_CHUNK = 8 * 1024 * 1024;
/** Delay before the first background step after a reset (see schedulePunchStep). */
const PUNCH_DELAY_MS = 3;

export function namespacePaths(dir: string, name: string): { data: string; meta: string; undo: string } {
  return {
    data: path.join(dir, name + DATA_SUFFIX),
    meta: path.join(dir, name + META_SUFFIX),
    undo: path.join(dir, name + UNDO_SUFFIX),
  };
}

function zoneRecord(ns: ZonedNamespace, z: number, extCrc: number, durableWp: number): ZoneRecord {
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
    durableWp,
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
  readonly faults: FaultTable;
  private header: Header;
  private readonly codec: RecordCodec;
  private readonly recBuf = Buffer.alloc(RECORD_SIZE);
  private dataFd: number;
  private metaFd: number;
  private readonly log: Logger;
  private readonly readOnly: boolean;
  private readonly beforeMetaWrite: (() => void) | undefined;
  private punchWarned = false;
  /** Reset zones whose space is still being freed: zone → next byte to free. */
  private readonly pendingPunch = new Map<number, number>();
  private punchScheduled = false;
  private punchSynced = false;
  /** CRC of each zone's descriptor extension, so record writes need not recompute it. */
  private readonly extCrcs = new Map<number, number>();
  /** Per zone: the write pointer as of the last flush (what survives a power loss). */
  private readonly durable: Float64Array;
  /** Zones written since the last flush (volatile cache on). */
  private readonly dirty = new Set<number>();
  private readonly undo: UndoLog;
  private closed = false;

  /** Create the files of a new namespace. The sidecar appears atomically (rename). */
  static create(dir: string, name: string, geometry: Partial<Geometry>, opts: CreateOptions = {}): Header {
    const g = resolveGeometry(geometry);
    const p = namespacePaths(dir, name);
    if (fs.existsSync(p.meta)) throw new Error(`namespace ${name} already exists in ${dir}`);
    const engine = new ZonedNamespace(g);
    const { recordsOffset, extOffset, faultsOffset, size } = layout(engine.nrZones, g.descrExtSize);
    const header: Header = {
      endianness: opts.endianness ?? 'little',
      version: FORMAT_VERSION,
      flags: flagsFor(g, true, false, opts.volatileCache === true),
      geometry: g,
      nrZones: engine.nrZones,
      uuid: randomUUID(),
      created: Date.now(),
      mountCount: 0,
      uncleanCount: 0,
      lastOpened: 0,
      recordsOffset,
      extOffset,
      faultsOffset,
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
        for (let i = 0; i < n; i++) {
          const z = z0 + i;
          codec.encode(zoneRecord(engine, z, 0, engine.wpOf(z)), chunk, i * RECORD_SIZE);
        }
        writeFully(fd, chunk, 0, n * RECORD_SIZE, recordsOffset + z0 * RECORD_SIZE);
      }
      const zero = Buffer.alloc(Math.min(1 << 20, Math.max(1, faultsOffset - extOffset)));
      for (let pos = extOffset; pos < faultsOffset; pos += zero.length) {
        writeFully(fd, zero, 0, Math.min(zero.length, faultsOffset - pos), pos);
      }
      writeFully(fd, new FaultTable().encode(header.endianness), 0, FAULTS_SIZE, faultsOffset);
      fs.ftruncateSync(fd, size);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    // Test hook for the crash-during-create test: die exactly between the two files.
    if (process.env.ZONEFUSE_TEST_CRASH === 'create-before-rename') process.kill(process.pid, 'SIGKILL');
    fs.renameSync(tmp, p.meta);
    fsyncDir(dir);
    return header;
  }

  /** Read and validate only the header of a namespace's sidecar. */
  static peekHeader(dir: string, name: string): Header {
    const file = namespacePaths(dir, name).meta;
    const fd = fs.openSync(file, 'r');
    try {
      const size = fs.fstatSync(fd).size;
      const buf = Buffer.alloc(Math.min(HEADER_SIZE, size));
      readFully(fd, buf, 0, buf.length, 0);
      return decodeHeader(file, buf, size);
    } finally {
      fs.closeSync(fd);
    }
  }

  static open(dir: string, name: string, opts: OpenOptions = {}): StoredNamespace {
    return new StoredNamespace(dir, name, opts);
  }

  private constructor(dir: string, name: string, opts: OpenOptions) {
    this.name = name;
    const p = namespacePaths(dir, name);
    this.dataPath = p.data;
    this.metaPath = p.meta;
    this.undo = new UndoLog(p.undo);
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
      this.durable = new Float64Array(this.engine.nrZones);
      this.loadZones();
      const fbuf = Buffer.alloc(FAULTS_SIZE);
      readFully(this.metaFd, fbuf, 0, FAULTS_SIZE, this.header.faultsOffset);
      this.faults = FaultTable.decode(this.metaPath, fbuf, this.header.endianness);

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
    const scratch = {} as ZoneRecord & { ext?: Uint8Array | undefined };
    for (let z0 = 0; z0 < n; z0 += chunkZones) {
      const cnt = Math.min(chunkZones, n - z0);
      readFully(this.metaFd, buf, 0, cnt * RECORD_SIZE, h.recordsOffset + z0 * RECORD_SIZE);
      for (let i = 0; i < cnt; i++) {
        const z = z0 + i;
        const decoded = this.codec.decodeInto(buf, i * RECORD_SIZE, scratch);
        if (typeof decoded === 'string') {
          throw new FormatError(this.metaPath, `zone ${z} ${decoded}`, 'mismatch: the zone record is corrupt');
        }
        const rec = scratch;
        if (rec.type !== this.engine.typeOf(z)) {
          throw new FormatError(this.metaPath, `zone ${z} type`, `${rec.type}, but the geometry makes it ${this.engine.typeOf(z)}`);
        }
        const zslba = this.engine.zoneStart(z);
        if (!this.engine.isConventional(z) && !(rec.durableWp >= zslba && rec.durableWp <= rec.wp)) {
          throw new FormatError(this.metaPath, `zone ${z} durable write pointer`,
            `${rec.durableWp} is not between the zone start ${zslba} and the write pointer ${rec.wp}`);
        }
        this.durable[z] = rec.durableWp;
        if (rec.durableWp < rec.wp) this.dirty.add(z);
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
          rec.ext = ext;
          this.engine.loadZone(z, rec);
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

  /**
   * Power-up: detect an unclean shutdown (with the volatile cache on, that is a power loss:
   * unflushed writes are discarded), apply the start-up transition, mark the sidecar in use.
   */
  private startUp(): void {
    const h = this.header;
    if (this.recoveredFromUncleanShutdown) {
      h.uncleanCount++;
      const lost = this.volatileCache ? this.losePower() : 0;
      const scrubbed = this.discardUnacknowledgedData();
      this.log.warn({ mountCount: h.mountCount, uncleanCount: h.uncleanCount, zonesScrubbed: scrubbed, zonesRolledBack: lost },
        `unclean shutdown detected for namespace ${this.name}: ` +
        (this.volatileCache
          ? `treated as a power loss (volatile write cache on): ${lost} zones rolled back to their last flush`
          : 'zone states and write pointers recovered from the sidecar'));
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

  get volatileCache(): boolean {
    return (this.header.flags & Flag.VOLATILE_CACHE) !== 0;
  }

  /** Write pointer as of the last flush (what a power loss keeps). */
  durableWpOf(z: number): number {
    return this.durable[z]!;
  }

  // ---------------------------------------------------------------------------------------------
  // I/O

  /**
   * Read `length` bytes at byte `offset` into buf[at..]. Below a zone's write pointer the data,
   * above it zeros. Returns the byte count (short at the end of the namespace) or a Rejection
   * (offline zone, cross-zone read when those are off, injected media error).
   */
  read(offset: number, buf: Uint8Array, at: number, length: number): Rejection | number {
    if (offset >= this.capacity || length <= 0) return 0;
    const len = Math.min(length, this.capacity - offset);
    const e = this.engine;
    const lba = this.lbaSize;
    const slba = Math.floor(offset / lba);
    const nlb = Math.ceil((offset + len) / lba) - slba;
    const r = e.checkRead(slba, nlb) ?? (this.faults.active ? this.readFault(slba, nlb) : undefined);
    if (r) return r;
    if (!e.zoned) {
      readFully(this.dataFd, buf, at, len, offset);
      return len;
    }
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
    const e = this.engine;
    if (!e.zoned || (slba < e.nlba && e.isConventional(e.zoneOf(slba)))) return this.writeRandom(slba * this.lbaSize, buf, at, len);
    const nlb = len / this.lbaSize;
    const r = e.checkWrite(slba, nlb);
    if (r) return r;
    if (this.faults.active) {
      const f = this.writeFault('write', slba, nlb);
      if (f) {
        // A torn write first lands the LBAs before the bad one.
        if (f.good > 0) this.commitSequential(slba, buf, at, f.good);
        return f.rejection;
      }
    }
    this.commitSequential(slba, buf, at, nlb);
    return undefined;
  }

  private commitSequential(slba: number, buf: Uint8Array, at: number, nlb: number): void {
    if (this.volatileCache) this.saveOverwrittenDurable(slba, nlb);
    writeFully(this.dataFd, buf, at, nlb * this.lbaSize, slba * this.lbaSize);
    this.engine.commitWrite(slba, nlb);
    this.persistLastChanges();
  }

  /**
   * Host-aware (SWP) zones take writes below their write pointer: with the volatile cache, the
   * durable LBAs such a write overwrites are saved so that a power loss can undo it.
   */
  private saveOverwrittenDurable(slba: number, nlb: number): void {
    const e = this.engine;
    const z = e.zoneOf(slba);
    const durableEnd = this.durable[z]!;
    if (slba >= durableEnd) return;
    const n = Math.min(nlb, durableEnd - slba);
    this.undo.save(this.dataFd, slba * this.lbaSize, n * this.lbaSize);
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
    let n = len;
    let fault: Rejection | undefined;
    if (this.faults.active) {
      const f = this.writeFault('write', slba, nlb);
      if (f) {
        fault = f.rejection;
        n = f.good > 0 ? Math.max(0, (slba + f.good) * lba - offset) : 0;
      }
    }
    if (n > 0) {
      if (this.volatileCache) this.undo.save(this.dataFd, offset, n);
      writeFully(this.dataFd, buf, at, n, offset);
    }
    return fault;
  }

  /** Zone Append of whole LBAs: returns the LBA where the data landed. */
  append(zone: number, buf: Uint8Array, at: number, len: number): Rejection | number {
    const nlb = len / this.lbaSize;
    const lba = this.engine.checkAppend(zone, nlb);
    if (typeof lba !== 'number') return lba;
    if (this.faults.active) {
      const f = this.writeFault('zone append', lba, nlb);
      if (f) {
        if (f.good > 0) this.commitSequential(lba, buf, at, f.good);
        return f.rejection;
      }
    }
    writeFully(this.dataFd, buf, at, len, lba * this.lbaSize);
    this.engine.append(zone, nlb);
    this.persistLastChanges();
    return lba;
  }

  /**
   * Make everything acknowledged so far durable: for the emulated device (the volatile cache's
   * contents) and on the host (data and sidecar synced).
   */
  flush(): void {
    this.drainPunches();
    if (this.dirty.size > 0) {
      const zones = [...this.dirty];
      for (const z of zones) this.durable[z] = this.engine.wpOf(z);
      this.persistZones(zones);
      this.dirty.clear();
    }
    if (this.volatileCache) this.undo.clear();
    fs.fdatasyncSync(this.dataFd);
    fs.fdatasyncSync(this.metaFd);
  }

  // ---------------------------------------------------------------------------------------------
  // Injected media faults

  private readFault(slba: number, nlb: number): Rejection | undefined {
    const range = this.faults.hit('read', slba, nlb);
    if (!range && !this.faults.roll('read')) return undefined;
    if (range?.once) this.healRange(range);
    const detail = range
      ? `injected read error in LBAs ${range.start}..${range.start + range.count - 1}${range.once ? ' (once)' : ''}`
      : 'injected random read error';
    return this.faultRejection(Status.UNRECOVERED_READ_ERROR, 'read', slba, detail);
  }

  /** An injected write failure for [slba, slba+nlb): how many LBAs still land, and the error. */
  private writeFault(op: string, slba: number, nlb: number): { good: number; rejection: Rejection } | undefined {
    const range = this.faults.hit('write', slba, nlb);
    if (!range && !this.faults.roll('write')) return undefined;
    let good = 0;
    let detail = 'injected random write error';
    if (range) {
      if (range.once) this.healRange(range);
      good = range.partial ? Math.max(0, range.start - slba) : 0;
      detail = `injected write error in LBAs ${range.start}..${range.start + range.count - 1}${range.once ? ' (once)' : ''}` +
        (range.partial ? `: torn write, ${good} of ${nlb} LBAs written` : '');
    }
    return { good, rejection: this.faultRejection(Status.WRITE_FAULT, op, slba, detail) };
  }

  private faultRejection(status: typeof Status.WRITE_FAULT, op: string, lba: number, detail: string): Rejection {
    const e = this.engine;
    const zone = e.zoned ? e.zoneOf(lba) : -1;
    const wp = zone >= 0 && !e.isConventional(zone) ? e.wpOf(zone) : -1;
    return { status, op, zone, lba, wp, detail };
  }

  private healRange(r: BadRange): void {
    this.faults.remove(r);
    this.persistFaults();
  }

  /** Fail reads and/or writes of LBAs [start, start+count). */
  addBadRange(r: BadRange): void {
    if (!(r.count >= 1) || r.start < 0 || r.start + r.count > this.engine.nlba) {
      throw new RangeError(`LBAs ${r.start}..${r.start + r.count - 1} are outside the namespace (${this.engine.nlba} LBAs)`);
    }
    this.faults.add(r);
    this.persistFaults();
  }

  /** Fail one write in `writeOneIn` and one read in `readOneIn`, reproducibly from `seed`. */
  setRandomFaults(rnd: RandomFaults | undefined): void {
    this.faults.setRandom(rnd);
    this.persistFaults();
  }

  /** Set or clear a Reset/Finish Zone Recommended attribute. */
  setRecommendation(zone: number, which: 'reset' | 'finish', on: boolean): Rejection | undefined {
    const r = this.engine.setRecommendation(zone, which === 'reset' ? ZoneAttr.RZR : ZoneAttr.FZR, on);
    if (r) return r;
    this.persistLastChanges(false, true);
    return undefined;
  }

  /** Every injected fault, as ctl commands that would set it again. */
  listFaults(): string[] {
    const e = this.engine;
    const out = this.faults.ranges.map(formatRange);
    if (this.faults.random) out.push(formatRandom(this.faults.random));
    for (let z = e.convZones; z < e.nrZones; z++) {
      const s = e.stateOf(z);
      if (s === ZoneState.READ_ONLY) out.push(`readonly ${z}`);
      if (s === ZoneState.OFFLINE) out.push(`offline ${z}`);
      const a = e.attrsOf(z);
      if (a & ZoneAttr.RZR) out.push(`recommend reset ${z}`);
      if (a & ZoneAttr.FZR) out.push(`recommend finish ${z}`);
    }
    return out;
  }

  /**
   * Remove every injected fault: bad ranges, random mode, recommendations, and Read Only or
   * Offline zones (they come back Empty, their data discarded). Returns how many were removed.
   */
  clearFaults(): number {
    const e = this.engine;
    let n = this.faults.ranges.length + (this.faults.random ? 1 : 0);
    this.faults.clear();
    this.persistFaults();
    for (let z = e.convZones; z < e.nrZones; z++) {
      const s = e.stateOf(z);
      if (s === ZoneState.READ_ONLY || s === ZoneState.OFFLINE) {
        if (!this.clearFault(z)) n++;
      }
      for (const which of ['reset', 'finish'] as const) {
        const bit = which === 'reset' ? ZoneAttr.RZR : ZoneAttr.FZR;
        if (e.attrsOf(z) & bit) {
          this.setRecommendation(z, which, false);
          n++;
        }
      }
    }
    return n;
  }

  private persistFaults(): void {
    if (this.readOnly) throw new Error(`${this.metaPath} is open read-only`);
    this.beforeMetaWrite?.();
    writeFully(this.metaFd, this.faults.encode(this.header.endianness), 0, FAULTS_SIZE, this.header.faultsOffset);
  }

  // ---------------------------------------------------------------------------------------------
  // Zone management (durable: it also makes the zone's earlier cached writes durable)

  manage(cmd: ZoneCommand, zone: number | 'all'): Rejection | undefined {
    const r = this.engine.manage(cmd, zone);
    if (r) return r;
    const changed = this.persistLastChanges(false, true);
    if (cmd === 'reset') this.punchZones(changed);
    return undefined;
  }

  setDescriptorExtension(zone: number, data: Uint8Array): Rejection | undefined {
    const r = this.engine.setDescriptorExtension(zone, data);
    if (r) return r;
    this.extCrcs.delete(zone);
    this.persistLastChanges(true, true);
    return undefined;
  }

  injectFault(kind: FaultCommand, zone: number): Rejection | undefined {
    const r = this.engine.injectFault(kind, zone);
    if (r) return r;
    this.persistLastChanges(false, true);
    return undefined;
  }

  clearFault(zone: number): Rejection | undefined {
    const r = this.engine.clearFault(zone);
    if (r) return r;
    this.punchZones(this.persistLastChanges(false, true));
    return undefined;
  }

  // ---------------------------------------------------------------------------------------------
  // Power

  get detached(): boolean {
    return (this.header.flags & Flag.DETACHED) !== 0;
  }

  /** Record whether the namespace is attached to the subsystem (persistent). */
  setDetached(on: boolean): void {
    if (on === this.detached) return;
    if (on) this.header.flags |= Flag.DETACHED;
    else this.header.flags &= ~Flag.DETACHED;
    this.writeHeader();
  }

  /** Turn the volatile write cache on or off (turning it off flushes first). */
  setVolatileCache(on: boolean): void {
    if (on === this.volatileCache) return;
    if (!on) this.flush();
    if (on) this.header.flags |= Flag.VOLATILE_CACHE;
    else this.header.flags &= ~Flag.VOLATILE_CACHE;
    this.writeHeader();
  }

  /**
   * Simulate a power event while running. 'shutdown': the spec's shutdown (flush, then open
   * zones → Closed or Empty). 'power-loss': with the volatile cache on, everything written since
   * the last flush is lost (write pointers roll back, the data reads as zeros), then the
   * power-up transitions apply. Returns the zones that changed.
   */
  powerCycle(event: PowerEvent): number[] {
    if (event === 'shutdown') {
      this.flush();
      return this.shutdownTransition();
    }
    this.losePower();
    const changed = this.engine.powerCycleTransition();
    this.persistZones(changed);
    return changed;
  }

  /** Roll every zone back to its last flush; returns how many zones lost writes. */
  private losePower(): number {
    const lost = new Map<number, number>();
    for (const z of this.dirty) lost.set(z, this.engine.wpOf(z));
    const changed = this.engine.powerLoss(this.durable);
    this.persistLastChanges(false, true);
    this.punchZonesAbove(lost);
    const undone = this.undo.replay(this.dataFd, () => fs.fdatasyncSync(this.dataFd));
    this.dirty.clear();
    if (changed.length > 0 || undone > 0) {
      this.log.info({ zones: lost.size, conventionalWritesUndone: undone }, 'power loss: writes since the last flush discarded');
    }
    return lost.size;
  }

  /** The spec's shutdown transitions without closing (open zones → Closed or Empty). */
  shutdownTransition(): number[] {
    this.engine.powerCycleTransition();
    return this.persistLastChanges(false, true);
  }

  /** Bytes of the data file actually allocated (st_blocks × 512). */
  allocatedBytes(): number {
    this.drainPunches();
    return fs.fstatSync(this.dataFd).blocks * 512;
  }

  /** Allocated byte ranges of the data file in [start, end). */
  allocatedRanges(start: number, end: number): Array<[number, number]> {
    this.drainPunches();
    return allocatedRanges(this.dataFd, start, end);
  }

  // ---------------------------------------------------------------------------------------------
  // Persistence

  /**
   * Persist the zones the engine changed in its last operation; roll back on failure.
   * `durable`: the operation is durable at once (zone management), so the zones' durable write
   * pointers follow; otherwise (writes) only when the volatile cache is off.
   */
  private persistLastChanges(writeExt = false, durable = false): number[] {
    const changed = this.engine.lastChanges();
    if (changed.length === 0) return changed;
    // (One zone per write: keep the rollback copy out of an array on that path.)
    const before0 = this.durable[changed[0]!]!;
    const before = changed.length > 1 ? changed.map((z) => this.durable[z]!) : undefined;
    const makeDurable = durable || !this.volatileCache;
    for (const z of changed) {
      if (makeDurable) {
        this.durable[z] = this.engine.wpOf(z);
        this.dirty.delete(z);
      } else if (this.durable[z]! < this.engine.wpOf(z)) {
        this.dirty.add(z);
      }
    }
    try {
      this.persistZones(changed, writeExt);
    } catch (e) {
      this.engine.revertLastOperation();
      changed.forEach((z, i) => (this.durable[z] = before ? before[i]! : before0));
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
    if (zones.length === 0) return;
    if (this.readOnly) throw new Error(`${this.metaPath} is open read-only`);
    this.beforeMetaWrite?.();
    const h = this.header;
    const extSize = h.geometry.descrExtSize;
    if (zones.length <= 8) {
      // In the engine's order: a zone closed to make room goes to disk before the zone opened.
      for (const z of zones) {
        this.encodeZone(z, extSize, this.recBuf, 0, writeExt);
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
      for (let k = i; k < j; k++) this.encodeZone(sorted[k]!, extSize, buf, (k - i) * RECORD_SIZE, writeExt);
      writeFully(this.metaFd, buf, 0, buf.length, h.recordsOffset + sorted[i]! * RECORD_SIZE);
      i = j;
    }
  }

  /**
   * Encode zone z's record into buf. The extension data, when `writeExt`, is written first so
   * that the record's checksum of it never points at data not yet written.
   */
  private encodeZone(z: number, extSize: number, buf: Buffer, at: number, writeExt: boolean): void {
    const e = this.engine;
    let extCrc = 0;
    const ext = (e.attrsOf(z) & ZoneAttr.ZDEV) !== 0 ? e.extOf(z) : undefined;
    if (ext && extSize > 0) {
      extCrc = this.extCrcs.get(z) ?? crc32(ext);
      if (writeExt) writeFully(this.metaFd, ext, 0, extSize, this.header.extOffset + z * extSize);
      this.extCrcs.set(z, extCrc);
    } else if (this.extCrcs.size > 0) {
      this.extCrcs.delete(z);
    }
    // Straight from the engine's arrays: no ZoneRecord object per write.
    const wp = e.wpOf(z);
    this.codec.encodeFields(buf, at, e.stateOf(z), e.typeOf(z), e.attrsOf(z), e.flagsOf(z), wp, e.lbasWrittenOf(z),
      e.resetsOf(z), e.finishesOf(z), extCrc, e.isConventional(z) ? wp : this.durable[z]!);
  }

  private writeHeader(): void {
    this.beforeMetaWrite?.();
    writeFully(this.metaFd, encodeHeader(this.header), 0, HEADER_SIZE, 0);
    fs.fdatasyncSync(this.metaFd);
  }

  /**
   * Free the space of zones that are now Empty, in the background: deallocating 64 MiB takes the
   * file system 10-20 ms, which would otherwise be the latency of every reset. The freeing runs
   * on the event loop in chunks, right after the reset is answered, and never below a zone's
   * current write pointer (so new writes are safe); stat, flush and close wait for it.
   */
  private punchZones(zones: number[]): void {
    for (const z of zones) {
      if (this.engine.stateOf(z) === ZoneState.EMPTY) this.pendingPunch.set(z, z * this.zoneBytes);
    }
    if (this.pendingPunch.size > 0) this.schedulePunchStep();
  }

  /** Free one chunk of a pending zone; reschedules itself while work remains. */
  private punchStep(): void {
    if (this.closed || this.pendingPunch.size === 0) return;
    if (!this.punchSynced) {
      // The reset's record must be on disk before its data is freed: otherwise a host crash
      // could keep the old write pointer over data already gone.
      fs.fdatasyncSync(this.metaFd);
      this.punchSynced = true;
    }
    const [z, cursor] = this.pendingPunch.entries().next().value as [number, number];
    const zoneEnd = (z + 1) * this.zoneBytes;
    const start = Math.max(cursor, z * this.zoneBytes + this.engine.dataLbas(z) * this.lbaSize);
    const stop = Math.min(zoneEnd, start + PUNCH_CHUNK);
    if (start < stop) this.punch(start, stop - start);
    if (stop >= zoneEnd) this.pendingPunch.delete(z);
    else this.pendingPunch.set(z, stop);
    if (this.pendingPunch.size === 0) this.punchSynced = false;
    else this.schedulePunchStep();
  }

  private schedulePunchStep(): void {
    if (this.punchScheduled) return;
    this.punchScheduled = true;
    const step = (): void => {
      this.punchScheduled = false;
      this.punchStep();
    };
    // The first step waits PUNCH_DELAY_MS: libfuse answers truncate(2) only after a getattr it
    // sends once the truncate handler has returned, and with setImmediate that getattr queues
    // behind the first chunk (measured: 5-7 ms per 64 MiB reset instead of 1-2 ms).
    if (!this.punchSynced) setTimeout(step, PUNCH_DELAY_MS);
    else setImmediate(step);
  }

  /** Finish freeing reset zones now (before reporting allocation, flushing or closing). */
  drainPunches(): void {
    while (this.pendingPunch.size > 0 && !this.closed) this.punchStep();
  }

  /** Discard data that was written above each zone's (rolled back) write pointer. */
  private punchZonesAbove(oldWp: Map<number, number>): void {
    if (oldWp.size === 0) return;
    fs.fdatasyncSync(this.metaFd);
    const lba = this.lbaSize;
    for (const [z, wp] of oldWp) {
      const from = this.engine.wpOf(z) * lba;
      if (wp * lba > from) this.punch(from, wp * lba - from);
    }
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
    if (clean && !this.readOnly) this.drainPunches();
    this.closed = true;
    try {
      if (!this.readOnly && clean) {
        // A clean stop is the controller's shutdown: flush, then open zones become Closed (or Empty).
        this.flush();
        this.shutdownTransition();
        fs.fdatasyncSync(this.metaFd);
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
    this.undo.close();
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
