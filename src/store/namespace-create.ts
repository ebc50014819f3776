/**
 * Creating the files of a new namespace (docs/format.md §10). If the file system refuses
 * (ENOSPC, ...), what was made is removed and a BackingStoreError names the file.
 */
import * as fs from 'node:fs';
import { randomUUID } from 'node:crypto';
import { Geometry, resolveGeometry } from '../engine/geometry.js';
import { ZonedNamespace } from '../engine/namespace.js';
import { Compat, Endianness, FORMAT_VERSION, FAULTS_SIZE, HEADER_SIZE, Header, RECORD_SIZE, RecordCodec, encodeHeader, flagsFor, layout } from './format.js';
import { FaultTable } from './faults.js';
import { fsyncDir, writeFully } from './io.js';
import { PRIVATE_FILE_MODE, namespacePaths } from './paths.js';
import { backingError } from './backing-error.js';

export interface CreateOptions {
  endianness?: Endianness;
  volatileCache?: boolean;
}

/** Create the files of a new namespace. The sidecar appears atomically (rename). */
export function createNamespace(dir: string, name: string, geometry: Partial<Geometry>, opts: CreateOptions = {}): Header {
  const g = resolveGeometry(geometry);
  const p = namespacePaths(dir, name);
  if (fs.existsSync(p.meta)) throw new Error(`namespace ${name} already exists in ${dir}`);
  const engine = new ZonedNamespace(g);
  const { recordsOffset, extOffset, faultsOffset } = layout(engine.nrZones, g.descrExtSize);
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
    clockOffset: 0,
    compat: Compat.HEADER_COPY,
    headerSeq: 1,
  };

  // Data first: a crash before the sidecar's rename leaves only an orphan image, which the
  // store removes at its next open.
  const tmp = p.meta + '.tmp';
  let file = p.data;
  try {
    writeDataFile(p.data, g.capacity);
    file = tmp;
    writeSidecar(tmp, header, engine);
  } catch (e) {
    for (const f of [tmp, p.data]) fs.rmSync(f, { force: true });
    throw backingError(file, 'write', e);
  }
  // Test hook for the crash-during-create test: die exactly between the two files.
  if (process.env.ZONEFUSE_TEST_CRASH === 'create-before-rename') process.kill(process.pid, 'SIGKILL');
  fs.renameSync(tmp, p.meta);
  fsyncDir(dir);
  return header;
}

function writeDataFile(file: string, capacity: number): void {
  const dataFd = fs.openSync(file, 'w', PRIVATE_FILE_MODE);
  try {
    fs.ftruncateSync(dataFd, capacity);
    fs.fsyncSync(dataFd);
  } finally {
    fs.closeSync(dataFd);
  }
}

function writeSidecar(tmp: string, header: Header, engine: ZonedNamespace): void {
  const { recordsOffset, extOffset, faultsOffset, size } = layout(engine.nrZones, header.geometry.descrExtSize);
  const fd = fs.openSync(tmp, 'w', PRIVATE_FILE_MODE);
  try {
    // Both header copies (the second is the last block, at `size`), the same bytes.
    const hbuf = encodeHeader(header);
    writeFully(fd, hbuf, 0, HEADER_SIZE, 0);
    writeFully(fd, hbuf, 0, HEADER_SIZE, size);
    // Every record is written (not left sparse) so later overwrites never need new blocks.
    const codec = new RecordCodec(header.endianness);
    const chunkZones = 4096;
    const chunk = Buffer.alloc(chunkZones * RECORD_SIZE);
    for (let z0 = 0; z0 < engine.nrZones; z0 += chunkZones) {
      const n = Math.min(chunkZones, engine.nrZones - z0);
      for (let i = 0; i < n; i++) {
        const z = z0 + i;
        codec.encode({
          state: engine.stateOf(z),
          type: engine.typeOf(z),
          attrs: engine.attrsOf(z),
          flags: engine.flagsOf(z),
          wp: engine.wpOf(z),
          lbasWritten: engine.lbasWrittenOf(z),
          resets: engine.resetsOf(z),
          finishes: engine.finishesOf(z),
          extCrc: 0,
          durableWp: engine.wpOf(z),
        }, chunk, i * RECORD_SIZE);
      }
      writeFully(fd, chunk, 0, n * RECORD_SIZE, recordsOffset + z0 * RECORD_SIZE);
    }
    const zero = Buffer.alloc(Math.min(1 << 20, Math.max(1, faultsOffset - extOffset)));
    for (let pos = extOffset; pos < faultsOffset; pos += zero.length) {
      writeFully(fd, zero, 0, Math.min(zero.length, faultsOffset - pos), pos);
    }
    writeFully(fd, new FaultTable().encode(header.endianness), 0, FAULTS_SIZE, faultsOffset);
    fs.ftruncateSync(fd, size + HEADER_SIZE);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
