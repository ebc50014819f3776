/**
 * The zones of a mounted namespace as typed arrays (one entry per zone, no object per zone), read
 * through the mount's files: what the terminal map and the web view draw from. A reader polls
 * cheaply (the 64-byte zones.bin header and its generation number) and reads the records only
 * when something changed, so following 100,000 zones costs one small read per poll while idle.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ZoneState, ZoneType } from '../engine/zone.js';
import {
  ZONES_BIN_HEADER_SIZE, ZONES_BIN_RECORD_SIZE, ZoneRecord, ZonesBinError, ZonesBinFlag, ZonesBinHeader, decodeZoneRecord,
  decodeZonesBinHeader, generationCount, generationEpoch,
} from '../format/zones-bin.js';
import { CHANGES_BIN, ChangesBin, ZoneRun, decodeChangesBin, runsSince } from '../format/changes-bin.js';

export type ZoneTableHeader = Omit<ZonesBinHeader, 'version' | 'headerSize' | 'recordSize' | 'flags'>;

export class ZoneTable {
  readonly start: Float64Array;
  readonly wp: Float64Array;
  readonly capacity: Float64Array;
  readonly lbasWritten: Float64Array;
  readonly resets: Uint32Array;
  readonly finishes: Uint32Array;
  readonly changeSeq: Uint32Array;
  readonly type: Uint8Array;
  readonly state: Uint8Array;
  readonly attrs: Uint8Array;
  readonly flags: Uint8Array;

  constructor(public header: ZoneTableHeader) {
    const n = header.nrZones;
    this.start = new Float64Array(n);
    this.wp = new Float64Array(n);
    this.capacity = new Float64Array(n);
    this.lbasWritten = new Float64Array(n);
    this.resets = new Uint32Array(n);
    this.finishes = new Uint32Array(n);
    this.changeSeq = new Uint32Array(n);
    this.type = new Uint8Array(n);
    this.state = new Uint8Array(n);
    this.attrs = new Uint8Array(n);
    this.flags = new Uint8Array(n);
  }

  get nrZones(): number {
    return this.header.nrZones;
  }

  set(z: number, r: ZoneRecord): void {
    this.start[z] = r.start;
    this.wp[z] = r.wp;
    this.capacity[z] = r.capacity;
    this.lbasWritten[z] = r.lbasWritten;
    this.resets[z] = r.resets;
    this.finishes[z] = r.finishes;
    this.changeSeq[z] = r.changeSeq;
    this.type[z] = r.type;
    this.state[z] = r.state;
    this.attrs[z] = r.attrs;
    this.flags[z] = r.flags;
  }

  /** LBAs holding data: up to the write pointer (a conventional zone counts as holding none). */
  dataLbas(z: number): number {
    if (this.type[z] === ZoneType.CONVENTIONAL) return 0;
    return Math.max(0, Math.min(this.capacity[z]!, this.wp[z]! - this.start[z]!));
  }

  /** Written fraction of the capacity, 0..1 (a Full zone is 1). */
  fill(z: number): number {
    if (this.state[z] === ZoneState.FULL) return 1;
    const cap = this.capacity[z]!;
    return cap > 0 ? this.dataLbas(z) / cap : 0;
  }

  record(z: number): ZoneRecord {
    return {
      zone: z, start: this.start[z]!, wp: this.wp[z]!, capacity: this.capacity[z]!, lbasWritten: this.lbasWritten[z]!,
      resets: this.resets[z]!, finishes: this.finishes[z]!, changeSeq: this.changeSeq[z]!, type: this.type[z] as ZoneType, state: this.state[z] as ZoneState,
      attrs: this.attrs[z]!, flags: this.flags[z]!,
    };
  }
}

function tableHeader(h: ZonesBinHeader): ZoneTableHeader {
  return {
    nrZones: h.nrZones, lbaSize: h.lbaSize, maxOpen: h.maxOpen, maxActive: h.maxActive,
    openZones: h.openZones, activeZones: h.activeZones, zoneAppendBytes: h.zoneAppendBytes,
    zoneLbas: h.zoneLbas, generation: h.generation, conventionalZones: h.conventionalZones,
  };
}

/**
 * A zones.bin image (header and every record) into a table; `reuse` is updated in place when it
 * has the same number of zones.
 */
export function tableFromZonesBin(buf: Buffer, reuse?: ZoneTable, rec = {} as ZoneRecord): ZoneTable {
  const h = decodeZonesBinHeader(buf);
  const have = Math.floor((buf.length - h.headerSize) / h.recordSize);
  if (have < h.nrZones) throw new ZoneSourceError(`zones.bin holds ${have} of its ${h.nrZones} zone records`);
  const header = tableHeader(h);
  const t = reuse && reuse.nrZones === h.nrZones ? reuse : new ZoneTable(header);
  t.header = header;
  for (let z = 0; z < h.nrZones; z++) t.set(z, decodeZoneRecord(buf, h.headerSize + z * h.recordSize, z, rec));
  return t;
}

/** Thrown when the namespace's files cannot be read (unmounted, detached, not zoned). */
export class ZoneSourceError extends Error {
  constructor(message: string, readonly code?: string) {
    super(message);
    this.name = 'ZoneSourceError';
  }
}

/** What a poll read: nothing new, every record, or only records of zones that changed. */
export type ZoneReadKind = 'none' | 'full' | 'changes';

export interface ZoneReadStats {
  kind: ZoneReadKind;
  /** Zone records read from zones.bin. */
  records: number;
}

/**
 * Past this share of the zones a follower reads every record in one request rather than the
 * changed groups in several (the daemon encodes records faster than FUSE turns requests around).
 */
const FULL_READ_SHARE = 1 / 4;

/** Record bytes compared to tell a changed zone: everything before the change sequence number. */
const CONTENT_BYTES = 44;

/**
 * Follows one namespace's zones.bin. `poll()` answers the table when its generation changed
 * since the previous poll (the first poll always does), undefined otherwise. The table is
 * updated in place: read what you need before the next poll.
 *
 * On a mount that tracks changes (header flag CHANGE_SEQ) a poll after a change reads
 * changes.bin and then only the groups of records that changed since the generation it knows;
 * it reads every record on the first poll, after a remount or an attach (another epoch), and
 * when a large part of the zones changed.
 */
export class ZoneTableReader {
  readonly file: string;
  readonly changesFile: string;
  private table: ZoneTable | undefined;
  private generation: bigint | undefined;
  /** Every zone's record as last read (what a record read again is compared with). */
  private records = Buffer.alloc(0);
  private recordSize = ZONES_BIN_RECORD_SIZE;
  private readonly headerBuf = Buffer.alloc(ZONES_BIN_HEADER_SIZE);
  private readonly rec = {} as ZoneRecord;
  private changedZones = new Uint32Array(0);
  private changedCount = 0;
  private allChanged = true;
  private stats: ZoneReadStats = { kind: 'none', records: 0 };

  constructor(readonly zonesDir: string) {
    this.file = path.join(zonesDir, 'zones.bin');
    this.changesFile = path.join(zonesDir, CHANGES_BIN);
  }

  /** The table as last read (undefined before the first poll). */
  get current(): ZoneTable | undefined {
    return this.table;
  }

  /** Zones whose record changed in the last poll that answered a table; null: all of them (first read, resize). */
  get changed(): Uint32Array | null {
    return this.allChanged ? null : this.changedZones.subarray(0, this.changedCount);
  }

  /** What the last poll read. */
  get lastRead(): Readonly<ZoneReadStats> {
    return this.stats;
  }

  async poll(): Promise<ZoneTable | undefined> {
    let fh: fs.promises.FileHandle;
    try {
      fh = await fs.promises.open(this.file, 'r');
    } catch (e) {
      throw this.failure(e);
    }
    try {
      const { bytesRead } = await fh.read(this.headerBuf, 0, ZONES_BIN_HEADER_SIZE, 0);
      const head = decodeZonesBinHeader(this.headerBuf.subarray(0, bytesRead));
      if (head.generation === this.generation && this.table?.nrZones === head.nrZones) {
        this.stats = { kind: 'none', records: 0 };
        return undefined;
      }
      const runs = await this.changedRuns(head);
      if (runs) await this.readRuns(fh, head, runs);
      else await this.readAll(fh, head);
      return this.table;
    } catch (e) {
      throw this.failure(e);
    } finally {
      await fh.close().catch(() => undefined);
    }
  }

  /**
   * The runs of zones that changed since the generation this reader knows, from changes.bin;
   * undefined when every record must be read (nothing known yet, another epoch or geometry, a
   * mount without change tracking, or too many changes for reading them one group at a time).
   */
  private async changedRuns(head: ZonesBinHeader): Promise<ZoneRun[] | undefined> {
    const since = this.generation;
    const t = this.table;
    if (since === undefined || !t || t.nrZones !== head.nrZones || this.recordSize !== head.recordSize) return undefined;
    if ((head.flags & ZonesBinFlag.CHANGE_SEQ) === 0 || generationEpoch(head.generation) !== generationEpoch(since)) return undefined;
    let summary: ChangesBin;
    try {
      summary = decodeChangesBin(await fs.promises.readFile(this.changesFile));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined; // an older mount
      throw e;
    }
    if (summary.header.nrZones !== head.nrZones) return undefined;
    const runs = runsSince(summary, since);
    if (!runs) return undefined;
    let zones = 0;
    for (const r of runs) zones += r.count;
    return zones > head.nrZones * FULL_READ_SHARE ? undefined : runs;
  }

  /** Header and every record in one read (the kernel may split it; changes in between are seen next time). */
  private async readAll(fh: fs.promises.FileHandle, head: ZonesBinHeader): Promise<void> {
    const size = head.headerSize + head.recordSize * head.nrZones;
    const buf = Buffer.allocUnsafe(size);
    const got = await readFully(fh, buf, 0, size, 0);
    if (got < size) throw new ZoneSourceError(`${this.file}: short read (${got} of ${size} bytes)`);
    // The header that came with the records: every change after it has a higher sequence number.
    const h = decodeZonesBinHeader(buf);
    const recs = buf.subarray(h.headerSize, h.headerSize + h.recordSize * h.nrZones);
    if (!this.table || this.table.nrZones !== h.nrZones || this.recordSize !== h.recordSize) {
      this.table = tableFromZonesBin(buf, this.table, this.rec);
      this.records = Buffer.from(recs);
      this.recordSize = h.recordSize;
      this.allChanged = true;
    } else {
      this.table.header = tableHeader(h);
      this.startChanges(h.nrZones);
      for (let z = 0; z < h.nrZones; z++) this.take(recs, z * h.recordSize, z);
    }
    this.generation = h.generation;
    this.stats = { kind: 'full', records: h.nrZones };
  }

  /** Only the records of the changed runs; of those, the zones whose sequence number is new. */
  private async readRuns(fh: fs.promises.FileHandle, head: ZonesBinHeader, runs: ZoneRun[]): Promise<void> {
    const t = this.table!;
    const since = generationCount(this.generation!);
    const rs = head.recordSize;
    this.startChanges(head.nrZones);
    let read = 0;
    let buf = Buffer.alloc(0);
    for (const run of runs) {
      const size = run.count * rs;
      if (buf.length < size) buf = Buffer.allocUnsafe(size);
      const got = await readFully(fh, buf, 0, size, head.headerSize + run.first * rs);
      if (got < size) throw new ZoneSourceError(`${this.file}: short read (${got} of ${size} bytes at zone ${run.first})`);
      for (let i = 0; i < run.count; i++) {
        if (buf.readUInt32LE(i * rs + CONTENT_BYTES) > since) this.take(buf, i * rs, run.first + i);
      }
      read += run.count;
    }
    // The header read before the records: a change after it has a higher number, and is read next time.
    t.header = tableHeader(head);
    this.generation = head.generation;
    this.stats = { kind: 'changes', records: read };
  }

  private startChanges(nrZones: number): void {
    if (this.changedZones.length !== nrZones) this.changedZones = new Uint32Array(nrZones);
    this.changedCount = 0;
    this.allChanged = false;
  }

  /** Zone z's record from buf[at..]: into the table and the changed list when its content differs. */
  private take(buf: Buffer, at: number, z: number): void {
    const rs = this.recordSize;
    const known = z * rs;
    if (buf.compare(this.records, known, known + CONTENT_BYTES, at, at + CONTENT_BYTES) !== 0) {
      this.table!.set(z, decodeZoneRecord(buf, at, z, this.rec));
      this.changedZones[this.changedCount++] = z;
    } else {
      this.table!.changeSeq[z] = buf.readUInt32LE(at + CONTENT_BYTES);
    }
    buf.copy(this.records, known, at, at + rs);
  }

  private failure(e: unknown): Error {
    if (e instanceof ZoneSourceError || e instanceof ZonesBinError) return e;
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return new ZoneSourceError(`${this.zonesDir} is gone (namespace detached or deleted, or the mount stopped)`, code);
    if (code === 'ENOTCONN') return new ZoneSourceError(`${this.zonesDir}: the mount's daemon is not running (ENOTCONN)`, code);
    return new ZoneSourceError(`${this.file}: ${(e as Error).message}`, code);
  }
}

async function readFully(fh: fs.promises.FileHandle, buf: Buffer, at: number, len: number, pos: number): Promise<number> {
  let got = 0;
  while (got < len) {
    const r = await fh.read(buf, at + got, len - got, pos + got);
    if (r.bytesRead === 0) break;
    got += r.bytesRead;
  }
  return got;
}

/** Zoned namespaces served by a mount: the NAME of every NAME.zones directory, sorted. */
export function mountedNamespaces(mnt: string): string[] {
  return fs.readdirSync(mnt).filter((n) => n.endsWith('.zones')).map((n) => n.slice(0, -'.zones'.length)).sort();
}
