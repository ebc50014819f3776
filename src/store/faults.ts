/**
 * Injected media faults of a namespace (null_blk's badblocks, badblocks_once and
 * badblocks_partial_io, plus a seeded random mode), kept in the sidecar's fault block so they
 * survive restarts. Policy only: the store decides what a hit does to the write path.
 *
 * Fault block (FAULTS_SIZE bytes, integers in the sidecar's byte order):
 *   0  u8[8] magic "ZFFAULTS"     16 u32 seed        28 u32 reserved
 *   8  u32   range count          20 u32 write 1-in-N (0 = off)
 *   12 u32   flags (bit0 random)  24 u32 read 1-in-N (0 = off)
 *   32 …     ranges, 32 bytes each: u64 start LBA, u64 count, u32 flags, 12 reserved
 *   FAULTS_SIZE-4  u32 CRC-32 of everything before it
 */
import { crc32 } from 'node:zlib';
import { Endianness, FAULTS_SIZE, FormatError } from './format.js';

const MAGIC = Buffer.from('ZFFAULTS', 'latin1');
const ENTRY = 32;
const FIRST = 32;
export const MAX_BAD_RANGES = Math.floor((FAULTS_SIZE - 4 - FIRST) / ENTRY);

export const RangeFlag = Object.freeze({ READ: 1, WRITE: 2, ONCE: 4, PARTIAL: 8 });

export interface BadRange {
  /** First LBA. */
  start: number;
  /** Number of LBAs. */
  count: number;
  read: boolean;
  write: boolean;
  /** Fails once, then heals. */
  once: boolean;
  /** A write through the range writes up to the first bad LBA, then fails (a torn write). */
  partial: boolean;
}

export interface RandomFaults {
  seed: number;
  /** Fail one write in N on average (0 = never). */
  writeOneIn: number;
  /** Fail one read in N on average (0 = never). */
  readOneIn: number;
}

/** mulberry32: small, fast and reproducible from its 32-bit seed. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class FaultTable {
  ranges: BadRange[] = [];
  random: RandomFaults | undefined;
  private rng: (() => number) | undefined;

  /** True when any fault is set, so the I/O path can skip all checks otherwise. */
  get active(): boolean {
    return this.ranges.length > 0 || this.random !== undefined;
  }

  /** The first range a read or write of [slba, slba+nlb) touches, if any. */
  hit(kind: 'read' | 'write', slba: number, nlb: number): BadRange | undefined {
    for (const r of this.ranges) {
      if (!(kind === 'read' ? r.read : r.write)) continue;
      if (slba < r.start + r.count && r.start < slba + nlb) return r;
    }
    return undefined;
  }

  /** Random mode: does this read or write fail? Advances the generator when that kind is on. */
  roll(kind: 'read' | 'write'): boolean {
    const rnd = this.random;
    if (!rnd || !this.rng) return false;
    const n = kind === 'read' ? rnd.readOneIn : rnd.writeOneIn;
    if (n === 0) return false;
    return Math.floor(this.rng() * n) === 0;
  }

  add(r: BadRange): void {
    if (this.ranges.length >= MAX_BAD_RANGES) throw new Error(`at most ${MAX_BAD_RANGES} bad ranges`);
    this.ranges.push(r);
  }

  remove(r: BadRange): void {
    this.ranges = this.ranges.filter((x) => x !== r);
  }

  /** Start (or restart) random mode; the same seed gives the same failures for the same I/O. */
  setRandom(rnd: RandomFaults | undefined): void {
    this.random = rnd && (rnd.writeOneIn > 0 || rnd.readOneIn > 0) ? rnd : undefined;
    this.rng = this.random ? mulberry32(this.random.seed) : undefined;
  }

  clear(): void {
    this.ranges = [];
    this.setRandom(undefined);
  }

  encode(endianness: Endianness): Buffer {
    const buf = Buffer.alloc(FAULTS_SIZE);
    const le = endianness === 'little';
    const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    MAGIC.copy(buf, 0);
    v.setUint32(8, this.ranges.length, le);
    v.setUint32(12, this.random ? 1 : 0, le);
    v.setUint32(16, this.random?.seed ?? 0, le);
    v.setUint32(20, this.random?.writeOneIn ?? 0, le);
    v.setUint32(24, this.random?.readOneIn ?? 0, le);
    this.ranges.forEach((r, i) => {
      const at = FIRST + i * ENTRY;
      v.setBigUint64(at, BigInt(r.start), le);
      v.setBigUint64(at + 8, BigInt(r.count), le);
      v.setUint32(at + 16,
        (r.read ? RangeFlag.READ : 0) | (r.write ? RangeFlag.WRITE : 0) | (r.once ? RangeFlag.ONCE : 0) | (r.partial ? RangeFlag.PARTIAL : 0), le);
    });
    v.setUint32(FAULTS_SIZE - 4, crc32(buf.subarray(0, FAULTS_SIZE - 4)), le);
    return buf;
  }

  static decode(file: string, buf: Buffer, endianness: Endianness): FaultTable {
    const le = endianness === 'little';
    const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    if (!buf.subarray(0, 8).equals(MAGIC)) throw new FormatError(file, 'faults magic', 'the fault block is not initialised');
    if (v.getUint32(FAULTS_SIZE - 4, le) !== crc32(buf.subarray(0, FAULTS_SIZE - 4))) {
      throw new FormatError(file, 'faults checksum', 'mismatch: the fault block is corrupt');
    }
    const t = new FaultTable();
    const n = v.getUint32(8, le);
    if (n > MAX_BAD_RANGES) throw new FormatError(file, 'faults count', `${n} ranges, at most ${MAX_BAD_RANGES} fit`);
    for (let i = 0; i < n; i++) {
      const at = FIRST + i * ENTRY;
      const flags = v.getUint32(at + 16, le);
      t.ranges.push({
        start: Number(v.getBigUint64(at, le)),
        count: Number(v.getBigUint64(at + 8, le)),
        read: (flags & RangeFlag.READ) !== 0,
        write: (flags & RangeFlag.WRITE) !== 0,
        once: (flags & RangeFlag.ONCE) !== 0,
        partial: (flags & RangeFlag.PARTIAL) !== 0,
      });
    }
    if ((v.getUint32(12, le) & 1) !== 0) {
      t.setRandom({ seed: v.getUint32(16, le), writeOneIn: v.getUint32(20, le), readOneIn: v.getUint32(24, le) });
    }
    return t;
  }
}

/** A range as a ctl command line (the `faults` file lists faults so they can be replayed). */
export function formatRange(r: BadRange): string {
  const kind = r.read && r.write ? 'rw' : r.read ? 'read' : 'write';
  return `fault ${kind} ${r.start} ${r.count}${r.once ? ' once' : ''}${r.partial ? ' partial' : ''}`;
}

export function formatRandom(r: RandomFaults): string {
  return `fault random ${r.seed} ${r.writeOneIn} ${r.readOneIn}`;
}
