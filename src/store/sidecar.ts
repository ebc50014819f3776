/**
 * The open sidecar (`<name>.zmeta`) of a namespace: every write to it goes through here. Zone
 * records (with their descriptor extension slots), the header and the fault block, with
 * pread/pwrite only, never mmap (docs/format.md §4-§7, §9.1). File-system failures are thrown as
 * BackingStoreError naming the sidecar.
 */
import * as fs from 'node:fs';
import { ZoneAttr } from '../engine/zone.js';
import { ZonedNamespace } from '../engine/namespace.js';
import { FAULTS_SIZE, Header, RECORD_SIZE, RecordCodec, crc32 } from './format.js';
import { writeHeaders } from './header-copies.js';
import { Logger } from '../log.js';
import { FaultTable } from './faults.js';
import { writeFully } from './io.js';
import { backingError } from './backing-error.js';

export class Sidecar {
  private readonly codec: RecordCodec;
  private readonly recBuf = Buffer.alloc(RECORD_SIZE);
  /** CRC of each zone's descriptor extension, so record writes need not recompute it. */
  private readonly extCrcs = new Map<number, number>();

  constructor(
    readonly path: string,
    readonly fd: number,
    readonly header: Header,
    private readonly engine: ZonedNamespace,
    /** Per zone, the durable write pointer and window written into its record (VolatileCache's). */
    private readonly durable: Float64Array,
    private readonly durableZrwa: Float64Array,
    private readonly readOnly: boolean,
    /** Test hook: called before every sidecar write. */
    private readonly beforeWrite: (() => void) | undefined,
    private readonly log: Logger,
    /** Where the header's second copy is (or goes): the last block of the file. */
    private readonly headerCopyOffset: number,
  ) {
    this.codec = new RecordCodec(header.endianness);
  }

  /** The checksum of zone z's extension slot, known valid (from the load or the last write). */
  rememberExtension(z: number, crc: number): void {
    this.extCrcs.set(z, crc);
  }

  /** Zone z's extension changed: its checksum must be computed again at the next record write. */
  forgetExtension(z: number): void {
    this.extCrcs.delete(z);
  }

  /**
   * Told the zones of every record write, before it is attempted (the engine has changed them
   * already; a failed write is rolled back and written again): every change of a zone reaches the
   * sidecar, so this is how a mount learns exactly which zones changed (zones.bin's CHANGE_SEQ).
   */
  recordsListener: ((zones: readonly number[]) => void) | undefined;

  /** Write the records of `zones` (and, with `writeExt`, their extension slots first). */
  writeZones(zones: number[], writeExt = false): void {
    if (zones.length === 0) return;
    this.checkWritable();
    this.recordsListener?.(zones);
    this.beforeWrite?.();
    try {
      this.writeRecords(zones, writeExt);
    } catch (e) {
      throw backingError(this.path, 'write', e);
    }
  }

  private writeRecords(zones: number[], writeExt: boolean): void {
    const h = this.header;
    const extSize = h.geometry.descrExtSize;
    if (zones.length <= 8) {
      // In the engine's order: a zone closed to make room goes to disk before the zone opened.
      for (const z of zones) {
        this.encodeZone(z, extSize, this.recBuf, 0, writeExt);
        writeFully(this.fd, this.recBuf, 0, RECORD_SIZE, h.recordsOffset + z * RECORD_SIZE);
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
      writeFully(this.fd, buf, 0, buf.length, h.recordsOffset + sorted[i]! * RECORD_SIZE);
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
      if (writeExt) writeFully(this.fd, ext, 0, extSize, this.header.extOffset + z * extSize);
      this.extCrcs.set(z, extCrc);
    } else if (this.extCrcs.size > 0) {
      this.extCrcs.delete(z);
    }
    // Straight from the engine's arrays: no ZoneRecord object per write.
    const wp = e.wpOf(z);
    this.codec.encodeFields(buf, at, e.stateOf(z), e.typeOf(z), e.attrsOf(z), e.flagsOf(z), wp, e.lbasWrittenOf(z),
      e.resetsOf(z), e.finishesOf(z), extCrc, e.isConventional(z) ? wp : this.durable[z]!,
      e.zrwaEndOf(z), e.timerSinceOf(z), this.durableZrwa.length ? this.durableZrwa[z]! : -1);
  }

  /**
   * Write both header copies (header-copies.ts), each synced. A sidecar made before there were
   * two gets its second copy now, unless the file system has no room for it.
   */
  writeHeader(): void {
    this.beforeWrite?.();
    let copies: 'both' | 'one';
    try {
      copies = writeHeaders(this.fd, this.header, this.headerCopyOffset);
    } catch (e) {
      throw backingError(this.path, 'write', e);
    }
    if (copies === 'one' && !this.copyWarned) {
      this.copyWarned = true;
      this.log.warn({ file: this.path }, `${this.path}: cannot add a second header copy (no room at the end of the file); it keeps one`);
    }
  }

  private copyWarned = false;

  /** Write the whole fault block (not synced: the next flush or close does). */
  writeFaults(faults: FaultTable): void {
    this.checkWritable();
    this.beforeWrite?.();
    try {
      writeFully(this.fd, faults.encode(this.header.endianness), 0, FAULTS_SIZE, this.header.faultsOffset);
    } catch (e) {
      throw backingError(this.path, 'write', e);
    }
  }

  sync(): void {
    try {
      fs.fdatasyncSync(this.fd);
    } catch (e) {
      throw backingError(this.path, 'flush', e);
    }
  }

  private checkWritable(): void {
    if (this.readOnly) throw new Error(`${this.path} is open read-only`);
  }
}
