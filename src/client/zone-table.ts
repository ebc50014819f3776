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
  ZONES_BIN_HEADER_SIZE, ZoneRecord, ZonesBinHeader, decodeZoneRecord, decodeZonesBinHeader,
} from '../format/zones-bin.js';

export type ZoneTableHeader = Omit<ZonesBinHeader, 'version' | 'headerSize' | 'recordSize' | 'flags'>;

export class ZoneTable {
  readonly start: Float64Array;
  readonly wp: Float64Array;
  readonly capacity: Float64Array;
  readonly lbasWritten: Float64Array;
  readonly resets: Uint32Array;
  readonly finishes: Uint32Array;
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
      resets: this.resets[z]!, finishes: this.finishes[z]!, type: this.type[z] as ZoneType, state: this.state[z] as ZoneState,
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

/**
 * Follows one namespace's zones.bin. `poll()` answers the table when its generation changed
 * since the previous poll (the first poll always does), undefined otherwise. The table is
 * updated in place: read what you need before the next poll.
 */
export class ZoneTableReader {
  readonly file: string;
  private table: ZoneTable | undefined;
  private generation: bigint | undefined;
  /** This read and the previous one: records are compared as words, only changed ones decoded. */
  private buf = Buffer.alloc(0);
  private prev = Buffer.alloc(0);
  private readonly headerBuf = Buffer.alloc(ZONES_BIN_HEADER_SIZE);
  private readonly rec = {} as ZoneRecord;
  private changedZones = new Uint32Array(0);
  private changedCount = 0;
  private allChanged = true;

  constructor(readonly zonesDir: string) {
    this.file = path.join(zonesDir, 'zones.bin');
  }

  /** The table as last read (undefined before the first poll). */
  get current(): ZoneTable | undefined {
    return this.table;
  }

  /** Zones whose record changed in the last poll that answered a table; null: all of them (first read, resize). */
  get changed(): Uint32Array | null {
    return this.allChanged ? null : this.changedZones.subarray(0, this.changedCount);
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
      if (head.generation === this.generation && this.table?.nrZones === head.nrZones) return undefined;
      const size = head.headerSize + head.recordSize * head.nrZones;
      if (this.buf.length !== size) {
        // Own ArrayBuffers (offset 0), so the word views below are aligned.
        this.buf = Buffer.from(new ArrayBuffer(size));
        this.prev = Buffer.from(new ArrayBuffer(size));
        this.table = undefined;
      }
      let got = 0;
      while (got < size) {
        const r = await fh.read(this.buf, got, size - got, got);
        if (r.bytesRead === 0) break;
        got += r.bytesRead;
      }
      if (got < size) throw new ZoneSourceError(`${this.file}: short read (${got} of ${size} bytes)`);
      this.decode();
      return this.table;
    } catch (e) {
      throw this.failure(e);
    } finally {
      await fh.close().catch(() => undefined);
    }
  }

  /** Counts and generation from this read's header (the records came with it); changed records only. */
  private decode(): void {
    const h = decodeZonesBinHeader(this.buf);
    const aligned = h.headerSize % 4 === 0 && h.recordSize % 4 === 0;
    if (!this.table || this.table.nrZones !== h.nrZones || !aligned) {
      this.table = tableFromZonesBin(this.buf, this.table, this.rec);
      this.allChanged = true;
    } else {
      this.table.header = tableHeader(h);
      const cur = new Int32Array(this.buf.buffer, this.buf.byteOffset, this.buf.length >> 2);
      const old = new Int32Array(this.prev.buffer, this.prev.byteOffset, this.prev.length >> 2);
      const words = h.recordSize >> 2;
      if (this.changedZones.length !== h.nrZones) this.changedZones = new Uint32Array(h.nrZones);
      let n = 0;
      for (let z = 0, w = h.headerSize >> 2; z < h.nrZones; z++, w += words) {
        for (let i = 0; i < words; i++) {
          if (cur[w + i] !== old[w + i]) {
            this.table.set(z, decodeZoneRecord(this.buf, h.headerSize + z * h.recordSize, z, this.rec));
            this.changedZones[n++] = z;
            break;
          }
        }
      }
      this.changedCount = n;
      this.allChanged = false;
    }
    this.generation = h.generation;
    [this.prev, this.buf] = [this.buf, this.prev];
  }

  private failure(e: unknown): Error {
    if (e instanceof ZoneSourceError) return e;
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return new ZoneSourceError(`${this.zonesDir} is gone (namespace detached or deleted, or the mount stopped)`, code);
    if (code === 'ENOTCONN') return new ZoneSourceError(`${this.zonesDir}: the mount's daemon is not running (ENOTCONN)`, code);
    return new ZoneSourceError(`${this.file}: ${(e as Error).message}`, code);
  }
}

/** Zoned namespaces served by a mount: the NAME of every NAME.zones directory, sorted. */
export function mountedNamespaces(mnt: string): string[] {
  return fs.readdirSync(mnt).filter((n) => n.endsWith('.zones')).map((n) => n.slice(0, -'.zones'.length)).sort();
}
