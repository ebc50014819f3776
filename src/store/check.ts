/**
 * Offline verification of a store (`zonefuse check`): headers, zone records, counters, write
 * pointers against capacity, and that nothing is allocated above any write pointer. Repair only
 * does what cannot lose acknowledged data, and says what it did.
 */
import * as fs from 'node:fs';
import { ZoneAttr, ZoneState, ZoneType, isActive, isValidStoredState } from '../engine/zone.js';
import { resolveGeometry } from '../engine/geometry.js';
import { Compat, RECORD_SIZE, FAULTS_SIZE, RecordCodec, ZoneRecord, crc32, FormatError, Header } from './format.js';
import { readHeaders, writeHeaders } from './header-copies.js';
import { FaultTable } from './faults.js';
import { allocatedRanges, punchHole } from '../native/libc.js';
import { StoreError, listNamespaces } from './store.js';
import { namespacePaths } from './stored-namespace.js';
import { StoreLock } from './lock.js';

export interface CheckFinding {
  ns: string;
  level: 'error' | 'warning' | 'repaired';
  message: string;
}

export interface CheckResult {
  findings: CheckFinding[];
  namespaces: number;
  zones: number;
  /** Errors left unrepaired. */
  errors: number;
}

function readAt(fd: number, len: number, pos: number): Buffer {
  const buf = Buffer.alloc(len);
  let off = 0;
  while (off < len) {
    const n = fs.readSync(fd, buf, off, len - off, pos + off);
    if (n === 0) break;
    off += n;
  }
  return buf.subarray(0, off);
}

export function checkStore(dir: string, opts: { repair?: boolean } = {}): CheckResult {
  // Before taking the lock, which would create a lock file in a directory that is no store.
  const names = listNamespaces(dir);
  if (names.length === 0) throw new StoreError(`store ${dir} has no namespaces`);
  const lock = StoreLock.acquire(dir, opts.repair ? 'zonefuse check --repair' : 'zonefuse check');
  try {
    const result: CheckResult = { findings: [], namespaces: 0, zones: 0, errors: 0 };
    for (const name of names) {
      result.namespaces++;
      checkNamespace(dir, name, opts.repair === true, result);
    }
    result.errors = result.findings.filter((f) => f.level === 'error').length;
    return result;
  } finally {
    lock.release();
  }
}

function checkNamespace(dir: string, name: string, repair: boolean, result: CheckResult): void {
  const p = namespacePaths(dir, name);
  const add = (level: CheckFinding['level'], message: string): void => {
    result.findings.push({ ns: name, level, message });
  };
  const metaFd = fs.openSync(p.meta, repair ? 'r+' : 'r');
  let dataFd = -1;
  try {
    const size = fs.fstatSync(metaFd).size;
    let h: Header;
    try {
      const read = readHeaders(p.meta, metaFd, size);
      h = read.header;
      resolveGeometry(h.geometry);
      checkHeaderCopies(metaFd, h, read.problems, read.copyOffset, repair, add, p.meta);
    } catch (e) {
      add('error', e instanceof FormatError ? e.message : `${p.meta}: geometry: ${(e as Error).message}`);
      return;
    }
    try {
      dataFd = fs.openSync(p.data, repair ? 'r+' : 'r');
    } catch (e) {
      add('error', `${p.data}: ${(e as Error).message}`);
      return;
    }
    const dataSize = fs.fstatSync(dataFd).size;
    if (dataSize !== h.geometry.capacity) {
      add('error', `${p.data}: size: ${dataSize} bytes, but the namespace capacity is ${h.geometry.capacity}`);
      return;
    }
    const g = h.geometry;
    const codec = new RecordCodec(h.endianness);
    const zoneBytes = g.zoneSize;
    const lba = g.lbaSize;
    const zoneLbas = g.zoned ? zoneBytes / lba : 0;
    const capLbas = g.zoned ? g.zoneCapacity / lba : 0;
    let open = 0;
    let active = 0;
    const unreadable: number[] = [];
    const records = readAt(metaFd, h.nrZones * RECORD_SIZE, h.recordsOffset);
    for (let z = 0; z < h.nrZones; z++) {
      result.zones++;
      const zslba = z * zoneLbas;
      const conv = z < g.convZones;
      const rec = codec.decode(records, z * RECORD_SIZE);
      if (typeof rec === 'string') {
        if (repair) unreadable.push(z);
        else add('error', `${p.meta}: zone ${z} ${rec}: mismatch (repair rebuilds the record from the data file)`);
        continue;
      }
      const wantType = conv ? ZoneType.CONVENTIONAL : g.zoneModel === 'host-aware' ? ZoneType.SEQ_WRITE_PREFERRED : ZoneType.SEQ_WRITE_REQUIRED;
      if (rec.type !== wantType) add('error', `${p.meta}: zone ${z} type: ${rec.type}, the geometry makes it ${wantType}`);
      if (!isValidStoredState(rec.state) || conv !== (rec.state === ZoneState.NOT_WP)) {
        add('error', `${p.meta}: zone ${z} state: 0x${rec.state.toString(16)} is not valid for this zone`);
        continue;
      }
      if (conv) continue;
      if (rec.wp < zslba || rec.wp > zslba + capLbas) {
        add('error', `${p.meta}: zone ${z} write pointer: ${rec.wp} is outside the zone's writable LBAs ${zslba}..${zslba + capLbas}`);
        continue;
      }
      if (rec.durableWp < zslba || rec.durableWp > rec.wp) {
        add('error', `${p.meta}: zone ${z} durable write pointer: ${rec.durableWp} is not between the zone start ${zslba} and the write pointer ${rec.wp}`);
      }
      if (rec.state === ZoneState.EMPTY && rec.wp !== zslba) add('error', `${p.meta}: zone ${z} write pointer: an Empty zone's write pointer is ${rec.wp}, not ${zslba}`);
      if (isActive(rec.state) && rec.wp === zslba + capLbas) add('error', `${p.meta}: zone ${z} write pointer: an active zone is at its capacity`);
      if (rec.lbasWritten < rec.wp - zslba) add('warning', `zone ${z}: lifetime LBAs written (${rec.lbasWritten}) is below the write pointer offset (${rec.wp - zslba})`);
      if ((rec.attrs & ZoneAttr.ZDEV) !== 0) {
        if (g.descrExtSize === 0) add('error', `${p.meta}: zone ${z} attrs: ZDEV set but the namespace has no extensions`);
        else if (crc32(readAt(metaFd, g.descrExtSize, h.extOffset + z * g.descrExtSize)) !== rec.extCrc) {
          add('error', `${p.meta}: zone ${z} extension checksum: mismatch`);
        }
      }
      if (g.zoneModel === 'host-managed') {
        if (rec.state === ZoneState.IMPLICIT_OPEN || rec.state === ZoneState.EXPLICIT_OPEN) open++;
        if (isActive(rec.state)) active++;
      }
      checkAboveWritePointer(dataFd, rec, z, zoneBytes, lba, zslba, repair, add, p.data);
    }
    // Rebuild unreadable records last, once the active zones of the readable ones are counted.
    for (const z of unreadable) {
      const zslba = z * zoneLbas;
      const rebuilt = rebuildRecord(dataFd, z < g.convZones, g.zoneModel === 'host-aware', zslba, zoneLbas, capLbas, lba);
      let how = 'rebuilt from the data file';
      if (rebuilt.state === ZoneState.CLOSED && g.zoneModel === 'host-managed') {
        if (g.maxActive !== 0 && active + 1 > g.maxActive) {
          // No active resource left for it: finished by the controller (ZFC), data kept.
          rebuilt.state = ZoneState.FULL;
          rebuilt.attrs |= ZoneAttr.ZFC;
          how += ' and finished (no active resource left)';
        } else {
          active++;
        }
      }
      const buf = Buffer.alloc(RECORD_SIZE);
      codec.encode(rebuilt, buf);
      fs.writeSync(metaFd, buf, 0, RECORD_SIZE, h.recordsOffset + z * RECORD_SIZE);
      add('repaired', `${p.meta}: zone ${z}: unreadable record ${how}: state ${ZoneState[rebuilt.state]}, write pointer ${rebuilt.wp}`);
      if (z >= g.convZones) checkAboveWritePointer(dataFd, rebuilt, z, zoneBytes, lba, zslba, repair, add, p.data);
    }
    checkFaultBlock(metaFd, h, repair, add, p.meta);
    if (g.maxActive !== 0 && active > g.maxActive) add('error', `${p.meta}: active zones: ${active}, above the limit of ${g.maxActive}`);
    // Possible after a crash mid-implicit-close; the next start-up closes every open zone.
    if (g.maxOpen !== 0 && open > g.maxOpen) add('warning', `${p.meta}: open zones: ${open}, above the limit of ${g.maxOpen} (closed at the next start-up)`);
  } finally {
    if (dataFd >= 0) fs.closeSync(dataFd);
    fs.closeSync(metaFd);
  }
}

/**
 * Both header copies must be intact and current (§9.4). Repair rewrites them from the one in use;
 * a sidecar with one copy (made before there were two) gets the second.
 */
function checkHeaderCopies(
  metaFd: number, h: Header, problems: ReturnType<typeof readHeaders>['problems'], copyOffset: number, repair: boolean,
  add: (level: CheckFinding['level'], m: string) => void, file: string,
): void {
  const single = (h.compat & Compat.HEADER_COPY) === 0;
  if (problems.length === 0 && !single) return;
  if (!repair) {
    for (const c of problems) add('error', `${file}: header copy ${c.copy} (offset ${c.offset}) is ${c.problem} (repair rewrites it from the other copy)`);
    if (single) add('warning', `${file}: one header copy (made before zonefuse kept two); repair, or the next read-write open, adds the second`);
    return;
  }
  const copies = writeHeaders(metaFd, h, copyOffset);
  for (const c of problems) add('repaired', `${file}: header copy ${c.copy} (offset ${c.offset}) was ${c.problem}; both copies rewritten`);
  if (single) {
    if (copies === 'both') add('repaired', `${file}: second header copy added`);
    else add('warning', `${file}: one header copy: no room to add the second`);
  }
}

/** The fault block must decode; repair resets a damaged one to "no faults" (test settings, not data). */
function checkFaultBlock(
  metaFd: number, h: Header, repair: boolean, add: (level: CheckFinding['level'], m: string) => void, file: string,
): void {
  try {
    FaultTable.decode(file, readAt(metaFd, FAULTS_SIZE, h.faultsOffset), h.endianness);
  } catch (e) {
    if (!(e instanceof FormatError)) throw e;
    if (!repair) {
      add('error', `${e.message} (repair clears the injected faults)`);
      return;
    }
    fs.writeSync(metaFd, new FaultTable().encode(h.endianness), 0, FAULTS_SIZE, h.faultsOffset);
    add('repaired', `${file}: fault block rewritten empty (it was unreadable: ${e.field}); injected faults are gone`);
  }
}

/** Data allocated above a write pointer belongs to writes that were never acknowledged. */
function checkAboveWritePointer(
  dataFd: number, rec: ZoneRecord, z: number, zoneBytes: number, lba: number, zslba: number,
  repair: boolean, add: (level: CheckFinding['level'], m: string) => void, file: string,
): void {
  if (rec.state === ZoneState.OFFLINE) return;
  // A ZRWA zone's data reaches past the write pointer, to the end of what its window holds.
  const dataEnd = (rec.attrs & ZoneAttr.ZRWAV) !== 0 ? Math.max(rec.wp, rec.zrwaEnd ?? rec.wp) : rec.wp;
  const from = dataEnd * lba;
  const end = (z + 1) * zoneBytes;
  if (from >= end) return;
  const ranges = allocatedRanges(dataFd, from, end);
  if (ranges.length === 0) return;
  const bytes = ranges.reduce((s, [a, b]) => s + b - a, 0);
  if (!repair) {
    add('error', `${file}: zone ${z}: ${bytes} bytes allocated above the write pointer (LBA ${rec.wp}; zone starts at ${zslba})`);
    return;
  }
  for (const [a, b] of ranges) punchHole(dataFd, a, b - a);
  add('repaired', `${file}: zone ${z}: discarded ${bytes} bytes of unacknowledged data above the write pointer`);
}

/** A record that cannot be read: infer the write pointer from what the data file holds. */
function rebuildRecord(
  dataFd: number, conv: boolean, hostAware: boolean, zslba: number, zoneLbas: number, capLbas: number, lba: number,
): ZoneRecord {
  const type = conv ? ZoneType.CONVENTIONAL : hostAware ? ZoneType.SEQ_WRITE_PREFERRED : ZoneType.SEQ_WRITE_REQUIRED;
  const base = { type, attrs: 0, flags: 0, lbasWritten: 0, resets: 0, finishes: 0, extCrc: 0 };
  if (conv) return { ...base, state: ZoneState.NOT_WP, wp: zslba, durableWp: zslba };
  const ranges = allocatedRanges(dataFd, zslba * lba, (zslba + zoneLbas) * lba);
  const last = ranges.length ? ranges[ranges.length - 1]![1] : zslba * lba;
  const wp = Math.min(zslba + capLbas, Math.ceil(last / lba));
  const state = wp === zslba ? ZoneState.EMPTY : wp === zslba + capLbas ? ZoneState.FULL : ZoneState.CLOSED;
  return { ...base, state, wp, durableWp: wp, lbasWritten: wp - zslba };
}
