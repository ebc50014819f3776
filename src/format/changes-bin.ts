/**
 * `NAME.zones/changes.bin` (docs/zones-bin.md, "Following changes"): beside a zones.bin whose
 * header has CHANGE_SEQ, the highest change sequence number of each group of zones, under the
 * current generation. A follower that knows the zones as of generation G (same epoch) reads this
 * small file, then only the records of the groups whose number is above G's count, and among
 * them takes the records whose own number is above it: exactly the zones that changed since G.
 *
 * Little-endian: a 32-byte header, then one u32 per group. 100,000 zones in groups of 64 make
 * 6.3 KB; the mount takes the snapshot at open, so however it is read it is one consistent picture.
 */
import { ZoneChangeState, ZonesBinError, generationCount, generationEpoch, makeGeneration } from './zones-bin.js';

/** Its name in a namespace's control directory, beside zones.bin. */
export const CHANGES_BIN = 'changes.bin';
export const CHANGES_BIN_MAGIC = 'ZFZC';
export const CHANGES_BIN_VERSION = 1;
export const CHANGES_BIN_HEADER_SIZE = 32;
/** Zones per group: a changed group costs its follower 64 × 48 = 3 KiB of zones.bin. */
export const CHANGE_GROUP_ZONES = 64;

export interface ChangesBinHeader {
  version: number;
  headerSize: number;
  /** Zones per group (the last group may be shorter). */
  groupZones: number;
  nrGroups: number;
  nrZones: number;
  /** zones.bin's generation when this was read: EPOCH << 32 | COUNT. */
  generation: bigint;
}

export interface ChangesBin {
  header: ChangesBinHeader;
  /** Per group: the highest change sequence number of its zones in this epoch (0: none changed). */
  groupSeq: Uint32Array;
}

export function changeGroups(nrZones: number, groupZones = CHANGE_GROUP_ZONES): number {
  return Math.ceil(nrZones / groupZones);
}

export function changesBinSize(nrZones: number): number {
  return CHANGES_BIN_HEADER_SIZE + 4 * changeGroups(nrZones);
}

/** The whole file for `nrZones` zones under the tracking state `c`. */
export function encodeChangesBin(c: ZoneChangeState, nrZones: number): Buffer {
  const groups = c.groupSeq.length;
  const out = Buffer.alloc(CHANGES_BIN_HEADER_SIZE + 4 * groups);
  out.write(CHANGES_BIN_MAGIC, 0, 'latin1');
  out.writeUInt16LE(CHANGES_BIN_VERSION, 4);
  out.writeUInt16LE(CHANGES_BIN_HEADER_SIZE, 6);
  out.writeUInt32LE(c.groupZones, 8);
  out.writeUInt32LE(groups, 12);
  out.writeBigUInt64LE(makeGeneration(c.epoch, c.count), 16);
  out.writeUInt32LE(nrZones, 24);
  for (let g = 0; g < groups; g++) out.writeUInt32LE(c.groupSeq[g]!, CHANGES_BIN_HEADER_SIZE + 4 * g);
  return out;
}

export function decodeChangesBin(buf: Uint8Array): ChangesBin {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (b.length < CHANGES_BIN_HEADER_SIZE) throw new ZonesBinError(`changes.bin needs at least ${CHANGES_BIN_HEADER_SIZE} bytes, got ${b.length}`);
  const magic = b.toString('latin1', 0, 4);
  if (magic !== CHANGES_BIN_MAGIC) throw new ZonesBinError(`not a changes.bin file (magic ${JSON.stringify(magic)})`);
  const version = b.readUInt16LE(4);
  if (version !== CHANGES_BIN_VERSION) throw new ZonesBinError(`changes.bin version ${version} is not supported (only ${CHANGES_BIN_VERSION})`);
  const headerSize = b.readUInt16LE(6);
  const groupZones = b.readUInt32LE(8);
  const nrGroups = b.readUInt32LE(12);
  const nrZones = b.readUInt32LE(24);
  if (headerSize < CHANGES_BIN_HEADER_SIZE) throw new ZonesBinError(`changes.bin header size ${headerSize} is too small`);
  if (groupZones === 0 || nrGroups !== changeGroups(nrZones, groupZones)) {
    throw new ZonesBinError(`changes.bin: ${nrGroups} groups of ${groupZones} zones do not cover ${nrZones} zones`);
  }
  if (b.length < headerSize + 4 * nrGroups) throw new ZonesBinError(`changes.bin holds ${b.length} bytes, ${headerSize + 4 * nrGroups} needed`);
  const groupSeq = new Uint32Array(nrGroups);
  for (let g = 0; g < nrGroups; g++) groupSeq[g] = b.readUInt32LE(headerSize + 4 * g);
  return { header: { version, headerSize, groupZones, nrGroups, nrZones, generation: b.readBigUInt64LE(16) }, groupSeq };
}

/** A run of zones to read: [first, first + count). */
export interface ZoneRun {
  first: number;
  count: number;
}

/**
 * The zones a follower that knows generation `since` must read: the groups whose number is
 * above its count, adjacent groups merged into one run. Undefined when it must read everything
 * instead (another epoch: a remount, an attach, or a count that ran out).
 */
export function runsSince(c: ChangesBin, since: bigint): ZoneRun[] | undefined {
  if (generationEpoch(c.header.generation) !== generationEpoch(since)) return undefined;
  const count = generationCount(since);
  const { groupZones, nrZones } = c.header;
  const runs: ZoneRun[] = [];
  for (let g = 0; g < c.groupSeq.length; g++) {
    if (c.groupSeq[g]! <= count) continue;
    const first = g * groupZones;
    const end = Math.min(nrZones, first + groupZones);
    const last = runs.at(-1);
    if (last && last.first + last.count === first) last.count = end - last.first;
    else runs.push({ first, count: end - first });
  }
  return runs;
}
