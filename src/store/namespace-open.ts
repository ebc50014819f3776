/**
 * Opening a namespace's files: the sidecar's header, zone records and fault block read and
 * validated (docs/format.md §8), the data file checked, and the shared parts assembled. Nothing
 * is written here; recovery.ts does the start-up of a read-write open.
 */
import * as fs from 'node:fs';
import { Geometry, GEOMETRY_FIELDS } from '../engine/geometry.js';
import { ZoneAttr } from '../engine/zone.js';
import { ZonedNamespace, ZoneLoadError } from '../engine/namespace.js';
import { Compat, FAULTS_SIZE, FormatError, Header, RECORD_SIZE, RecordCodec, ZoneRecord, crc32 } from './format.js';
import { readHeaders } from './header-copies.js';
import { FaultTable } from './faults.js';
import { readFully } from './io.js';
import { Logger, silentLogger } from '../log.js';
import { namespacePaths } from './paths.js';
import { NamespaceCore } from './namespace-core.js';
import { Sidecar } from './sidecar.js';
import { SpaceReclaimer } from './space-reclaim.js';
import { VolatileCache } from './volatile-cache.js';
import { deviceClock } from './device-clock.js';
import { EventLog } from './event-log.js';
import { FailureReporter } from './backing-error.js';

export interface OpenOptions {
  logger?: Logger;
  /** Geometry the caller expects; any field that differs is refused. */
  expect?: Partial<Geometry>;
  /** Inspect only: no header update, no start-up transition, no writes at all. */
  readOnly?: boolean;
  /** Test hook: called before every sidecar write. */
  beforeMetaWrite?: () => void;
}

/** Read and validate only the header of a namespace's sidecar. */
export function peekHeader(dir: string, name: string): Header {
  const file = namespacePaths(dir, name).meta;
  const fd = fs.openSync(file, 'r');
  try {
    return readHeaders(file, fd, fs.fstatSync(fd).size).header;
  } finally {
    fs.closeSync(fd);
  }
}

/** Open and validate a namespace's files; on any error nothing stays open. */
export function openNamespace(dir: string, name: string, opts: OpenOptions): NamespaceCore {
  const p = namespacePaths(dir, name);
  const readOnly = opts.readOnly === true;
  const mode = readOnly ? 'r' : 'r+';
  const log = (opts.logger ?? silentLogger).child({ ns: name });
  const metaFd = fs.openSync(p.meta, mode);
  let dataFd = -1;
  let cache: VolatileCache | undefined;
  try {
    const { header, problems, copyOffset } = readHeaders(p.meta, metaFd, fs.fstatSync(metaFd).size);
    for (const c of problems) {
      log.warn({ file: p.meta, copy: c.copy, offset: c.offset }, `${p.meta}: header copy ${c.copy} (offset ${c.offset}) is ${c.problem}; ` +
        (readOnly ? `the other copy is used (zonefuse check --repair rewrites it)` : 'the other copy is used, and this open rewrites it'));
    }
    if (!readOnly && (header.compat & Compat.HEADER_COPY) === 0) {
      log.info({ file: p.meta }, `${p.meta}: one header copy (made before zonefuse kept two); this open adds the second (compatible feature HEADER_COPY)`);
    }
    const g = header.geometry;
    if (opts.expect) checkExpectedGeometry(p.meta, g, opts.expect);
    let engine: ZonedNamespace;
    const clock = deviceClock(header);
    try {
      engine = new ZonedNamespace(g, { clock });
    } catch (e) {
      throw new FormatError(p.meta, (e as { field?: string }).field ?? 'geometry', (e as Error).message);
    }
    cache = new VolatileCache(engine.nrZones, p.undo, p.data, header);
    const sidecar = new Sidecar(p.meta, metaFd, header, engine, cache.durable, cache.durableZrwa, readOnly, opts.beforeMetaWrite, log, copyOffset);
    loadZones(p.meta, metaFd, header, engine, sidecar, cache);
    const fbuf = Buffer.alloc(FAULTS_SIZE);
    readFully(metaFd, fbuf, 0, FAULTS_SIZE, header.faultsOffset);
    const faults = FaultTable.decode(p.meta, fbuf, header.endianness);

    dataFd = fs.openSync(p.data, mode);
    const dataSize = fs.fstatSync(dataFd).size;
    if (dataSize !== g.capacity) {
      throw new FormatError(p.data, 'size', `${dataSize} bytes, but the namespace capacity is ${g.capacity}`);
    }
    const failures = new FailureReporter(log);
    return {
      name,
      engine,
      lbaSize: g.lbaSize,
      capacity: g.capacity,
      zoneBytes: g.zoneSize,
      dataPath: p.data,
      dataFd,
      sidecar,
      cache,
      reclaimer: new SpaceReclaimer(engine, dataFd, sidecar, p.data, failures, log),
      faults,
      failures,
      log,
      clock,
      events: new EventLog(p.events, readOnly),
      trace: undefined,
    };
  } catch (e) {
    if (dataFd >= 0) fs.closeSync(dataFd);
    fs.closeSync(metaFd);
    cache?.undo.close();
    throw e;
  }
}

/** Close every file of the namespace. */
export function closeNamespaceFiles(ns: NamespaceCore): void {
  fs.closeSync(ns.dataFd);
  fs.closeSync(ns.sidecar.fd);
  ns.cache.undo.close();
  ns.events.close();
}

function loadZones(file: string, fd: number, h: Header, engine: ZonedNamespace, sidecar: Sidecar, cache: VolatileCache): void {
  const codec = new RecordCodec(h.endianness);
  const n = h.nrZones;
  const chunkZones = 16384;
  const buf = Buffer.alloc(Math.min(n, chunkZones) * RECORD_SIZE);
  const extSize = h.geometry.descrExtSize;
  const scratch = {} as ZoneRecord & { ext?: Uint8Array | undefined };
  for (let z0 = 0; z0 < n; z0 += chunkZones) {
    const cnt = Math.min(chunkZones, n - z0);
    readFully(fd, buf, 0, cnt * RECORD_SIZE, h.recordsOffset + z0 * RECORD_SIZE);
    for (let i = 0; i < cnt; i++) {
      const z = z0 + i;
      const decoded = codec.decodeInto(buf, i * RECORD_SIZE, scratch);
      if (typeof decoded === 'string') {
        throw new FormatError(file, `zone ${z} ${decoded}`, 'mismatch: the zone record is corrupt');
      }
      const rec = scratch;
      if (rec.type !== engine.typeOf(z)) {
        throw new FormatError(file, `zone ${z} type`, `${rec.type}, but the geometry makes it ${engine.typeOf(z)}`);
      }
      const zslba = engine.zoneStart(z);
      if (!engine.isConventional(z) && !(rec.durableWp >= zslba && rec.durableWp <= rec.wp)) {
        throw new FormatError(file, `zone ${z} durable write pointer`,
          `${rec.durableWp} is not between the zone start ${zslba} and the write pointer ${rec.wp}`);
      }
      if (rec.durableZrwaEnd !== undefined && rec.durableZrwaEnd > rec.durableWp + engine.zrwaLbas) {
        throw new FormatError(file, `zone ${z} durable zrwa`,
          `the durable window data end ${rec.durableZrwaEnd} is beyond the ZRWA above the durable write pointer ${rec.durableWp}`);
      }
      cache.load(z, rec.durableWp, rec.wp, rec.durableZrwaEnd ?? -1, rec.zrwaEnd ?? rec.wp);
      let ext: Uint8Array | undefined;
      if ((rec.attrs & ZoneAttr.ZDEV) !== 0 && extSize > 0) {
        ext = Buffer.alloc(extSize);
        readFully(fd, ext, 0, extSize, h.extOffset + z * extSize);
        if (crc32(ext) !== rec.extCrc) {
          throw new FormatError(file, `zone ${z} extension checksum`, 'mismatch: the descriptor extension is corrupt');
        }
        sidecar.rememberExtension(z, rec.extCrc);
      }
      try {
        rec.ext = ext;
        engine.loadZone(z, rec);
      } catch (e) {
        if (e instanceof ZoneLoadError) throw new FormatError(file, `zone ${z} ${e.field}`, e.message);
        throw e;
      }
    }
  }
  try {
    engine.finishLoad();
  } catch (e) {
    if (e instanceof ZoneLoadError) throw new FormatError(file, `${e.field} zones`, e.message);
    throw e;
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
