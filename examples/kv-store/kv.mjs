/**
 * ZonedKV: a small log-structured key-value store on a zoned namespace, built only on the
 * zonefuse library API (ZonedDevice). Run it against a mounted namespace or a store opened
 * in-process; see README.md beside this file.
 *
 * Design
 * - Every put or delete is one record, written with zone append into the current "head" zone;
 *   the device says where it landed. Records are whole LBAs (format below).
 * - An in-memory index maps key → { lba, lbas, seq, tomb } (the newest record of the key).
 *   Deletes write a tombstone, kept in the index while an older record of the key may still be
 *   on the device (otherwise recovery would resurrect it).
 * - Per zone: bytes used, live LBAs (records the index points to) and the set of keys that have
 *   any record in it. Garbage collection picks the sealed zone with the fewest live LBAs, copies
 *   its live records into the head (with new sequence numbers), flushes, then resets it.
 * - Recovery (open) scans every sequential zone from its start to its write pointer (the whole
 *   capacity for a Full zone, whose write pointer is not valid) and keeps the highest sequence
 *   number per key. Scanning a zone stops at the first LBA that is not a valid record.
 * - One head zone at a time: at most one zone is open, so any open/active limit ≥ 1 is
 *   respected. A head that cannot take the next record is finished (Full); at start-up every
 *   other partly written zone is finished too. Conventional zones are not used.
 *
 * Durability: flush() makes every put/delete so far durable (device flush). The one ordering
 * rule: GC flushes before it resets a zone, because a reset is durable at once and the copies
 * are not; without it a power loss after the reset would lose flushed keys. With `syncPuts`
 * every put and delete is durable when it returns (it flushes first). The documented buggy
 * mode `buggyAckBeforeFlush` (with syncPuts) returns before that flush and does it at the start
 * of the next call instead, as a careless group commit would: the caller is told "done" for a
 * write a power loss can still take away. `zonefuse crashtest` finds it (see README.md).
 *
 * Record format (little-endian, padded with zeros to a whole number of LBAs):
 *   0  u32 magic 0x31564b5a ("ZKV1")     16 u32 record length in LBAs (padding included)
 *   4  u32 CRC-32 of bytes 0..end of      20 u32 value length in bytes
 *          value, with this field = 0     24 u16 key length in bytes (UTF-8)
 *   8  u64 sequence number                26 u8  flags: 1 = tombstone;  27..31 reserved (0)
 *   32 key, then value
 */
import { crc32 } from 'node:zlib';
import { pathToFileURL } from 'node:url';
import { openDevice } from 'zonefuse';

const MAGIC = 0x31564b5a;
const HEADER = 32;
const TOMBSTONE = 1;
const ZERO4 = Buffer.alloc(4);

/** The bytes of one record, padded to whole LBAs. `value` null = tombstone. */
export function encodeRecord(lbaSize, seq, key, value) {
  const end = HEADER + key.length + (value ? value.length : 0);
  const lbas = Math.ceil(end / lbaSize);
  const buf = Buffer.alloc(lbas * lbaSize);
  buf.writeUInt32LE(MAGIC, 0);
  buf.writeBigUInt64LE(BigInt(seq), 8);
  buf.writeUInt32LE(lbas, 16);
  buf.writeUInt32LE(value ? value.length : 0, 20);
  buf.writeUInt16LE(key.length, 24);
  buf[26] = value ? 0 : TOMBSTONE;
  key.copy(buf, HEADER);
  if (value) value.copy(buf, HEADER + key.length);
  buf.writeUInt32LE(crc32(buf.subarray(0, end)), 4); // computed while the field is still 0
  return buf;
}

/**
 * Parse the records in `data` (read from LBA `startLba`). Returns the valid records in order,
 * `used` (LBAs up to the end of the last valid one) and `stop`: null when the data ended on a
 * record boundary or at a zeroed LBA, else why parsing stopped (a torn or corrupt record).
 */
export function parseRecords(data, startLba, lbaSize) {
  const records = [];
  let off = 0;
  let stop = null;
  while (off < data.length) {
    if (data.readUInt32LE(off) !== MAGIC) {
      if (data.subarray(off, off + lbaSize).some((b) => b !== 0)) stop = `bad magic at LBA ${startLba + off / lbaSize}`;
      break; // a zeroed LBA: nothing was written here (the end of a finished zone)
    }
    const lbas = data.readUInt32LE(off + 16);
    const valueLen = data.readUInt32LE(off + 20);
    const keyLen = data.readUInt16LE(off + 24);
    const end = HEADER + keyLen + valueLen;
    if (lbas !== Math.ceil(end / lbaSize) || off + lbas * lbaSize > data.length) {
      stop = `bad length at LBA ${startLba + off / lbaSize}`;
      break;
    }
    let crc = crc32(data.subarray(off, off + 4));
    crc = crc32(ZERO4, crc);
    crc = crc32(data.subarray(off + 8, off + end), crc);
    if (crc !== data.readUInt32LE(off + 4)) {
      stop = `CRC mismatch at LBA ${startLba + off / lbaSize}`;
      break;
    }
    const tomb = (data[off + 26] & TOMBSTONE) !== 0;
    records.push({
      lba: startLba + off / lbaSize,
      lbas,
      seq: Number(data.readBigUInt64LE(off + 8)),
      key: data.toString('utf8', off + HEADER, off + HEADER + keyLen),
      value: tomb ? null : Buffer.from(data.subarray(off + HEADER + keyLen, off + end)),
    });
    off += lbas * lbaSize;
  }
  return { records, used: off / lbaSize, stop };
}

export class ZonedKV {
  /**
   * Open the store on `device` (a ZonedDevice) and recover its index from the zones.
   * opts.reserveZones: GC runs when no more than this many zones are empty (default 2).
   * opts.syncPuts: every put and delete is durable when it returns.
   * opts.buggyAckBeforeFlush: (with syncPuts) the deliberate bug: return first, flush later.
   */
  static open(device, opts = {}) {
    const kv = new ZonedKV(device, opts);
    kv.#recover();
    return kv;
  }

  /** key → { lba, lbas, seq, tomb } for the newest record of each key. */
  index = new Map();
  /**
   * zone index → { zone, start, cap, used, live, keys, lastSeq, state }, sequential zones only;
   * state: 'empty', 'head' (taking appends), 'sealed' (Full: a GC candidate), 'readonly', and
   * 'partial' (written, seen during recovery before it becomes the head or is sealed).
   */
  zones = new Map();
  head = null;
  /** Set by recovery: the largest record in LBAs. */
  maxRecordLbas = 0;
  maxRecordWhy = '';
  /** True while garbage collection runs (tests cut the power at such moments). */
  gcActive = false;
  counters = { recovered: 0, torn: 0, gcRuns: 0, gcCopiedLbas: 0, tombstonesDropped: 0 };
  #seq = 1;

  constructor(device, opts) {
    this.dev = device;
    this.info = device.info();
    if (!this.info.zoned) throw new Error('ZonedKV needs a zoned namespace');
    this.lbaSize = this.info.lbaSize;
    this.reserve = opts.reserveZones ?? 2;
    this.syncPuts = opts.syncPuts === true;
    this.buggyAckBeforeFlush = opts.buggyAckBeforeFlush === true;
  }

  /** buggyAckBeforeFlush: a put or delete returned without the flush it owes. */
  #flushOwed = false;

  /** Make the write just done durable before returning (syncPuts), or, in the buggy mode, later. */
  #commit() {
    if (!this.syncPuts) return;
    if (this.buggyAckBeforeFlush) {
      // BUG (on purpose): the previous write is flushed now, this one only at the next call.
      this.#flushOwed = true;
      return;
    }
    this.dev.flush();
  }

  #payFlushOwed() {
    if (!this.#flushOwed) return;
    this.#flushOwed = false;
    this.dev.flush();
  }

  // --- recovery ------------------------------------------------------------------------------

  #recover() {
    const partial = [];
    for (const z of this.dev.report()) {
      if (z.type === 'CONVENTIONAL' || z.state === 'OFFLINE') continue; // not used / unreadable
      const zs = { zone: z.zone, start: z.start, cap: z.cap, used: 0, live: 0, keys: new Set(), state: 'empty', lastSeq: 0 };
      this.zones.set(z.zone, zs);
      if (z.state === 'EMPTY') continue;
      zs.state = 'partial';
      const end = z.wp ?? z.start + z.cap; // Full and Read Only zones report no write pointer
      const { records, used, stop } = parseRecords(this.dev.read(z.start, (end - z.start) * this.lbaSize), z.start, this.lbaSize);
      for (const r of records) {
        zs.keys.add(r.key);
        zs.lastSeq = r.seq;
        this.#seq = Math.max(this.#seq, r.seq + 1);
        this.#point(r.key, { lba: r.lba, lbas: r.lbas, seq: r.seq, tomb: r.value === null });
      }
      this.counters.recovered += records.length;
      if (stop !== null) this.counters.torn++; // e.g. a write that failed half-way
      zs.used = used;
      if (z.state === 'READONLY') zs.state = 'readonly';
      else if (z.state === 'FULL') zs.state = 'sealed';
      else if (stop !== null || z.start + used !== end) this.#seal(zs); // never append after garbage
      else partial.push(zs);
    }
    // Keep the most recent partly written zone as the head; finish the others.
    partial.sort((a, b) => b.lastSeq - a.lastSeq);
    for (const zs of partial.slice(1)) this.#seal(zs);
    if (partial[0]) {
      this.head = partial[0];
      this.head.state = 'head';
    }
    // The largest record: one zone append, within one zone's capacity.
    if (this.zones.size === 0) throw new Error('ZonedKV: the namespace has no usable sequential zone');
    const cap = Math.min(...[...this.zones.values()].map((z) => z.cap));
    const limit = this.info.appendLimitLbas;
    this.maxRecordLbas = limit > 0 ? Math.min(cap, limit) : cap;
    this.maxRecordWhy = limit > 0 && limit <= cap ? 'the zone append size limit' : 'the zone capacity';
  }

  /** Make `entry` the key's current record unless the index already has a newer one. */
  #point(key, entry) {
    const cur = this.index.get(key);
    if (cur && cur.seq > entry.seq) return;
    if (cur) this.#zoneOf(cur.lba).live -= cur.lbas;
    this.index.set(key, entry);
    this.#zoneOf(entry.lba).live += entry.lbas;
  }

  #zoneOf(lba) {
    return this.zones.get(Math.floor(lba / this.info.zoneSizeLbas));
  }

  // --- the API ---------------------------------------------------------------------------------

  /** The value (a Buffer) or undefined. */
  get(key) {
    const e = this.index.get(key);
    if (!e || e.tomb) return undefined;
    const { records, stop } = parseRecords(this.dev.read(e.lba, e.lbas * this.lbaSize), e.lba, this.lbaSize);
    const r = records[0];
    if (!r || r.key !== key || r.seq !== e.seq) throw new Error(`ZonedKV: the record of "${key}" at LBA ${e.lba} is unreadable (${stop ?? 'another record'})`);
    return r.value;
  }

  has(key) {
    const e = this.index.get(key);
    return e !== undefined && !e.tomb;
  }

  *keys() {
    for (const [k, e] of this.index) if (!e.tomb) yield k;
  }

  /** `value`: a string (stored as UTF-8) or bytes. */
  put(key, value) {
    this.#payFlushOwed();
    this.#append(key, Buffer.from(value));
    this.#commit();
  }

  /** Returns whether the key existed. */
  delete(key) {
    this.#payFlushOwed();
    if (!this.has(key)) return false;
    this.#append(key, null);
    this.#commit();
    return true;
  }

  /** Make every put and delete so far durable. */
  flush() {
    this.#flushOwed = false;
    this.dev.flush();
  }

  stats() {
    const zs = [...this.zones.values()];
    const count = (s) => zs.filter((z) => z.state === s).length;
    return {
      keys: [...this.keys()].length, empty: count('empty'), sealed: count('sealed'), head: this.head?.zone ?? null,
      liveLbas: zs.reduce((n, z) => n + z.live, 0), usedLbas: zs.reduce((n, z) => n + z.used, 0), ...this.counters,
    };
  }

  // --- writing ---------------------------------------------------------------------------------

  #append(key, value) {
    const keyBuf = Buffer.from(key, 'utf8');
    if (keyBuf.length === 0 || keyBuf.length > 0xffff) throw new RangeError('ZonedKV: a key is 1..65535 bytes of UTF-8');
    const lbas = Math.ceil((HEADER + keyBuf.length + (value ? value.length : 0)) / this.lbaSize);
    if (lbas > this.maxRecordLbas) {
      throw new RangeError(`ZonedKV: the record of "${key}" needs ${lbas} LBAs; records are at most ${this.maxRecordLbas} LBAs here (${this.maxRecordWhy})`);
    }
    const head = this.#room(lbas);
    const seq = this.#seq++;
    let lba;
    try {
      lba = this.dev.append(head.zone, encodeRecord(this.lbaSize, seq, keyBuf, value));
    } catch (e) {
      this.#abandonHead(); // a failed append may have landed part of the record: seal the zone
      throw e;
    }
    head.used = lba - head.start + lbas; // the device chose the LBA
    head.keys.add(key);
    this.#point(key, { lba, lbas, seq, tomb: value === null });
  }

  /** The head zone, with room for `lbas` more: seal a full head, GC when empty zones run low. */
  #room(lbas) {
    for (;;) {
      const h = this.head;
      if (h && h.used + lbas <= h.cap) return h;
      if (h) this.#seal(h);
      if (!this.gcActive && this.#emptyCount() <= this.reserve) this.gc();
      if (this.head) continue; // GC opened a head for its copies: use it if there is room
      const next = [...this.zones.values()].find((z) => z.state === 'empty');
      if (!next) throw new Error('ZonedKV: the device is full (no empty zone left)');
      next.state = 'head';
      this.head = next;
    }
  }

  /** Finish a zone that will take no more records (frees its open/active resource). */
  #seal(zs) {
    if (this.head === zs) this.head = null;
    if (zs.used === 0 && zs.state === 'head') { // taken but never written
      zs.state = 'empty';
      return;
    }
    if (zs.used < zs.cap) this.dev.finish(zs.zone); // at the capacity it is already Full
    zs.state = 'sealed';
  }

  #abandonHead() {
    const h = this.head;
    this.head = null;
    if (!h) return;
    try {
      const z = this.dev.report(h.start, 1)[0];
      if (z.wp !== null) h.used = z.wp - h.start; // what landed, a torn part included
      if (h.used === 0) h.state = 'empty'; // nothing landed: the zone is still Empty
      else this.#seal(h);
    } catch {
      // the device is gone (e.g. the power was cut): recovery sorts it out
    }
  }

  #emptyCount() {
    let n = 0;
    for (const z of this.zones.values()) if (z.state === 'empty') n++;
    return n;
  }

  // --- garbage collection ----------------------------------------------------------------------

  /** Reclaim zones until more than `reserve` are empty. Throws when live data fills the device. */
  gc() {
    if (this.gcActive) return;
    this.gcActive = true;
    try {
      for (let budget = 2 * this.zones.size; this.#emptyCount() <= this.reserve; budget--) {
        let victim = null;
        for (const z of this.zones.values()) if (z.state === 'sealed' && (!victim || z.live < victim.live)) victim = z;
        if (!victim || victim.live >= victim.cap || budget === 0) throw new Error('ZonedKV: the device is full of live data');
        this.#collect(victim);
      }
    } finally {
      this.gcActive = false;
    }
  }

  #collect(victim) {
    const data = this.dev.read(victim.start, victim.used * this.lbaSize);
    for (const r of parseRecords(data, victim.start, this.lbaSize).records) {
      const cur = this.index.get(r.key);
      if (!cur || cur.lba !== r.lba) continue; // stale: the key has a newer record
      if (r.value === null && !this.#olderRecordElsewhere(r.key, victim)) {
        this.index.delete(r.key); // a tombstone with nothing left to hide
        victim.live -= cur.lbas;
        this.counters.tombstonesDropped++;
        continue;
      }
      this.#append(r.key, r.value); // copy into the head, with a new sequence number
      this.counters.gcCopiedLbas += r.lbas;
    }
    // A reset is durable at once, appends only after a flush. Without this flush a power cut
    // after the reset would lose the copies, and (even when nothing was copied) every key whose
    // flushed record was in this zone and whose newer record is not flushed yet.
    this.dev.flush();
    this.dev.reset(victim.zone);
    Object.assign(victim, { used: 0, live: 0, state: 'empty', lastSeq: 0 });
    victim.keys.clear();
    this.counters.gcRuns++;
  }

  #olderRecordElsewhere(key, victim) {
    for (const z of this.zones.values()) if (z !== victim && z.keys.has(key)) return true;
    return false;
  }
}

// --- a tiny command line: node kv.mjs [--in-process] TARGET put|get|del|list|stats [KEY] [VALUE] ---

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = process.argv.slice(2);
  const inProcess = args[0] === '--in-process';
  if (inProcess) args.shift();
  const [target, cmd, key, value] = args;
  if (!target || !cmd) {
    console.error('usage: node kv.mjs [--in-process] TARGET put KEY VALUE | get KEY | del KEY | list | stats');
    process.exit(2);
  }
  let dev;
  try {
    dev = openDevice(target, { inProcess });
    const kv = ZonedKV.open(dev);
    if (cmd === 'put') kv.put(key, value ?? '');
    else if (cmd === 'get') {
      const v = kv.get(key);
      if (v === undefined) process.exitCode = 1;
      else console.log(v.toString());
    } else if (cmd === 'del') console.log(kv.delete(key) ? 'deleted' : 'no such key');
    else if (cmd === 'list') for (const k of kv.keys()) console.log(k);
    else if (cmd === 'stats') console.log(JSON.stringify(kv.stats()));
    else throw new Error(`unknown command ${cmd}`);
    kv.flush();
  } catch (e) {
    console.error(`kv: ${e.message}`); // a ZoneError's message starts with its NVMe status name
    process.exitCode = 1;
  } finally {
    dev?.dispose();
  }
}
