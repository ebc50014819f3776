/**
 * The sidecar's two header copies (docs/format.md §5.3, §9.4): copy 1 at offset 0 and, with
 * Compat.HEADER_COPY, copy 2 as the file's last block (at layout().size or, once areas are added
 * after the fault block, later: always the last block). Both are whole
 * 4096-byte blocks with the same content; `header_seq` grows by one at every write. Writes go copy
 * 2, sync, copy 1, sync, so a torn write can damage only the copy being written, and the other
 * one is intact, old or new. Reading takes the intact copy with the highest sequence number.
 */
import * as fs from 'node:fs';
import { Compat, FormatError, HEADER_SIZE, Header, decodeHeader, encodeHeader, layout } from './format.js';
import { readFully, writeFully } from './io.js';

/** Failures that mean "this copy is damaged" (a torn or overwritten block), not "refuse the file". */
const DAMAGE_FIELDS = new Set(['header', 'magic', 'endianness', 'byte order mark', 'header checksum']);

export interface HeaderCopyProblem {
  /** 1: the copy at offset 0; 2: the copy at the end of the file. */
  copy: 1 | 2;
  offset: number;
  /** One line: what is wrong with it. */
  problem: string;
}

export interface HeaderRead {
  /** The header to use: the intact copy with the highest sequence number. */
  header: Header;
  /** Where copy 2 is, or (a sidecar with one copy) where it goes: the end of the file. */
  copyOffset: number;
  /** Damaged, missing or outdated copies (empty when all is well). */
  problems: HeaderCopyProblem[];
}

function readBlock(fd: number, offset: number, fileSize: number): Buffer {
  const n = Math.max(0, Math.min(HEADER_SIZE, fileSize - offset));
  const buf = Buffer.alloc(n);
  readFully(fd, buf, 0, n, offset);
  return buf;
}

function tryDecode(file: string, buf: Buffer, fileSize: number): Header | FormatError {
  try {
    return decodeHeader(file, buf, fileSize);
  } catch (e) {
    if (e instanceof FormatError) return e;
    throw e;
  }
}

/**
 * Read and validate the header of the sidecar open as `fd`. Throws the FormatError of copy 1 when
 * no copy can be used, or when copy 1 is intact but refused (a newer version, unknown
 * incompatible features, impossible geometry): that is not damage, and copy 2 must not hide it.
 */
export function readHeaders(file: string, fd: number, fileSize: number): HeaderRead {
  const one = tryDecode(file, readBlock(fd, 0, fileSize), fileSize);
  if (one instanceof FormatError && !DAMAGE_FIELDS.has(one.field)) throw one;
  const problems: HeaderCopyProblem[] = [];
  if (!(one instanceof FormatError) && (one.compat & Compat.HEADER_COPY) === 0) {
    // A sidecar with one copy (made before copies existed): the second goes at the end.
    return { header: one, copyOffset: Math.max(fileSize, minSize(one)), problems };
  }
  // Copy 2 is the file's last block.
  const at = fileSize - HEADER_SIZE;
  let two: Header | FormatError | undefined;
  if (at >= HEADER_SIZE && (one instanceof FormatError || at >= minSize(one))) {
    two = tryDecode(file, readBlock(fd, at, fileSize), fileSize);
    if (!(two instanceof FormatError) && ((two.compat & Compat.HEADER_COPY) === 0 || at < minSize(two))) {
      two = new FormatError(file, 'header copy', `the block at ${at} is not a second header copy`);
    }
  }
  if (one instanceof FormatError) {
    if (!two || two instanceof FormatError) {
      throw new FormatError(file, one.field, `${detail(file, one)}; and no intact second copy`);
    }
    problems.push({ copy: 1, offset: 0, problem: `damaged: ${one.field}: ${detail(file, one)}` });
    return { header: two, copyOffset: at, problems };
  }
  if (!two) {
    problems.push({ copy: 2, offset: Math.max(at, minSize(one)), problem: `missing: the file ends at ${fileSize}` });
    return { header: one, copyOffset: Math.max(at, minSize(one)), problems };
  }
  if (two instanceof FormatError) {
    problems.push({ copy: 2, offset: at, problem: `damaged: ${two.field}: ${detail(file, two)}` });
    return { header: one, copyOffset: at, problems };
  }
  if (two.headerSeq > one.headerSeq) {
    problems.push({ copy: 1, offset: 0, problem: `older than copy 2 (sequence ${one.headerSeq} < ${two.headerSeq}): an interrupted header update` });
    return { header: two, copyOffset: at, problems };
  }
  if (two.headerSeq < one.headerSeq) {
    problems.push({ copy: 2, offset: at, problem: `older than copy 1 (sequence ${two.headerSeq} < ${one.headerSeq}): an interrupted header update` });
  }
  return { header: one, copyOffset: at, problems };
}

/** The smallest file the header describes (its areas end there; copy 2 starts there or later). */
function minSize(h: Header): number {
  return layout(h.nrZones, h.geometry.descrExtSize).size;
}

/** A FormatError's detail, without the "FILE: FIELD: " prefix. */
function detail(file: string, e: FormatError): string {
  return e.message.slice(file.length + e.field.length + 4);
}

/**
 * Write the header (sequence number incremented, checksum recomputed): copy 2, sync, copy 1,
 * sync. A sidecar with one copy gets its second one here; if that cannot be written (a full file
 * system), it keeps one copy and 'one' is returned. Errors writing copy 1 are thrown as they are.
 */
export function writeHeaders(fd: number, h: Header, copyOffset: number): 'both' | 'one' {
  const adding = (h.compat & Compat.HEADER_COPY) === 0;
  h.compat |= Compat.HEADER_COPY;
  h.headerSeq++;
  let buf = encodeHeader(h);
  let result: 'both' | 'one' = 'both';
  try {
    writeFully(fd, buf, 0, HEADER_SIZE, copyOffset);
    fs.fdatasyncSync(fd);
  } catch (e) {
    if (!adding) throw e;
    h.compat &= ~Compat.HEADER_COPY;
    buf = encodeHeader(h);
    result = 'one';
  }
  writeFully(fd, buf, 0, HEADER_SIZE, 0);
  fs.fdatasyncSync(fd);
  return result;
}
