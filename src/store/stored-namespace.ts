/**
 * One namespace of a store: the zone engine bound to its files.
 *
 *   <name>.data   sparse raw image of exactly `capacity` bytes
 *   <name>.zmeta  sidecar: header, one 64-byte record per zone, descriptor extensions, faults
 *   <name>.undo   only with the volatile write cache: pre-images of conventional overwrites
 *
 * Durability rules (docs/format.md §9):
 * - write path: data pwrite, then the zone record pwrite, then acknowledge. Both land in the
 *   kernel's page cache before we answer, so an acknowledged write survives kill -9 of the
 *   daemon; flush() (fsync) makes everything acknowledged survive a host crash.
 * - with the volatile write cache on, a write is acknowledged before it is durable *for the
 *   emulated device*: each record keeps the write pointer as of the last flush (durableWp), and
 *   a power loss (or a daemon that dies) rolls zones back to it. Zone management is durable and
 *   makes the zone's earlier writes durable.
 * - if persisting a record fails, the engine is rolled back and the error is thrown.
 * - a failure of the file system underneath (ENOSPC, EDQUOT, EIO) is thrown as BackingStoreError,
 *   naming the file and the operation, once the state is back to exactly what was stored.
 * - the header's CLEAN flag is cleared (and synced) at open and set at a clean close, so an
 *   unclean shutdown is detected at the next open.
 *
 * This class is the public face; the work is done by one module per concern:
 *   namespace-create / namespace-open / recovery   creating, opening and validating, start-up
 *   write-path, commit                             data and record writes, rollback
 *   zone-management, media-faults                  zone commands, injected faults
 *   power, volatile-cache                          flush, power events, durable write pointers
 *   sidecar, space-reclaim                         sidecar writes, punching freed space
 *   device-events, event-log, device-clock         RRL/FRL timers, excursions, the events log
 */
import * as fs from 'node:fs';
import { Geometry } from '../engine/geometry.js';
import { Rejection } from '../engine/status.js';
import { ZonedNamespace, ZoneCommand, FaultCommand, ManageOptions } from '../engine/namespace.js';
import { DeviceEvent } from '../engine/timers.js';
import { EventLog } from './event-log.js';
import { TIMER_POLL_MS, advanceClock, excursion, runDeviceTimers } from './device-events.js';
import { Flag, Header } from './format.js';
import { BadRange, FaultTable, RandomFaults } from './faults.js';
import { fsyncDir } from './io.js';
import { allocatedRanges } from '../native/libc.js';
import { NamespaceCore } from './namespace-core.js';
import { BackingStoreError } from './backing-error.js';
import { CreateOptions, createNamespace } from './namespace-create.js';
import { OpenOptions, closeNamespaceFiles, openNamespace, peekHeader } from './namespace-open.js';
import { startUp } from './recovery.js';
import { appendLbas, readData, writeLbas, writeRandom } from './write-path.js';
import * as zones from './zone-management.js';
import { addBadRange, setRandomFaults } from './media-faults.js';
import * as power from './power.js';
import { TraceRecorder } from './trace.js';
import type { LossPolicy } from '../engine/loss-policy.js';

export { fsyncDir };
export { DATA_SUFFIX, META_SUFFIX, UNDO_SUFFIX, namespacePaths } from './paths.js';
export type { CreateOptions } from './namespace-create.js';
export type { OpenOptions } from './namespace-open.js';
export type { PowerEvent } from './power.js';
export { BackingStoreError } from './backing-error.js';

export class StoredNamespace {
  readonly name: string;
  readonly dataPath: string;
  readonly metaPath: string;
  readonly engine: ZonedNamespace;
  readonly lbaSize: number;
  readonly capacity: number;
  /** Zone size in bytes (0 when not zoned). */
  readonly zoneBytes: number;
  /** True when the previous owner did not close the namespace cleanly. */
  readonly recoveredFromUncleanShutdown: boolean;
  readonly faults: FaultTable;
  private readonly core: NamespaceCore;
  private readonly readOnly: boolean;
  private closed = false;
  private timerPoll: NodeJS.Timeout | undefined;

  /** Create the files of a new namespace. The sidecar appears atomically (rename). */
  static create(dir: string, name: string, geometry: Partial<Geometry>, opts: CreateOptions = {}): Header {
    return createNamespace(dir, name, geometry, opts);
  }

  /** Read and validate only the header of a namespace's sidecar. */
  static peekHeader(dir: string, name: string): Header {
    return peekHeader(dir, name);
  }

  static open(dir: string, name: string, opts: OpenOptions = {}): StoredNamespace {
    return new StoredNamespace(dir, name, opts);
  }

  private constructor(dir: string, name: string, opts: OpenOptions) {
    const core = openNamespace(dir, name, opts);
    this.core = core;
    this.name = name;
    this.dataPath = core.dataPath;
    this.metaPath = core.sidecar.path;
    this.engine = core.engine;
    this.lbaSize = core.lbaSize;
    this.capacity = core.capacity;
    this.zoneBytes = core.zoneBytes;
    this.faults = core.faults;
    this.readOnly = opts.readOnly === true;
    this.recoveredFromUncleanShutdown = (core.sidecar.header.flags & Flag.CLEAN) === 0;
    try {
      if (!this.readOnly) {
        startUp(core, this.recoveredFromUncleanShutdown);
        // Limits that expired while the namespace was closed (the device clock is wall time).
        runDeviceTimers(core);
      }
    } catch (e) {
      closeNamespaceFiles(core);
      throw e;
    }
    if (!this.readOnly && (core.engine.rrlMs !== 0 || core.engine.frlMs !== 0)) {
      this.timerPoll = setInterval(() => this.runTimers(), TIMER_POLL_MS);
      this.timerPoll.unref();
    }
  }

  get geometry(): Readonly<Geometry> {
    return this.core.sidecar.header.geometry;
  }

  get info(): Readonly<Header> {
    return this.core.sidecar.header;
  }

  get volatileCache(): boolean {
    return this.core.cache.on;
  }

  /** Write pointer as of the last flush (what a power loss keeps). */
  durableWpOf(z: number): number {
    return this.core.cache.durable[z]!;
  }

  // I/O (write-path.ts)

  /**
   * Read `length` bytes at byte `offset` into buf[at..]. Below a zone's write pointer the data,
   * above it zeros. Returns the byte count (short at the end of the namespace) or a Rejection.
   */
  read(offset: number, buf: Uint8Array, at: number, length: number): Rejection | number {
    return readData(this.core, offset, buf, at, length);
  }

  /** Write whole LBAs at slba (len a multiple of the LBA size): data, then the zone record. */
  write(slba: number, buf: Uint8Array, at: number, len: number): Rejection | undefined {
    return writeLbas(this.core, slba, buf, at, len);
  }

  /** Write bytes anywhere in conventional space, without LBA alignment. */
  writeRandom(offset: number, buf: Uint8Array, at: number, len: number): Rejection | undefined {
    return writeRandom(this.core, offset, buf, at, len);
  }

  /** Zone Append of whole LBAs: returns the LBA where the data landed. */
  append(zone: number, buf: Uint8Array, at: number, len: number): Rejection | number {
    return appendLbas(this.core, zone, buf, at, len);
  }

  /** Make everything acknowledged so far durable, for the emulated device and on the host. */
  flush(): void {
    power.flush(this.core);
  }

  // Injected faults (media-faults.ts, zone-management.ts)

  /** Fail reads and/or writes of LBAs [start, start+count). */
  addBadRange(r: BadRange): void {
    addBadRange(this.core, r);
  }

  /** Fail one write in `writeOneIn` and one read in `readOneIn`, reproducibly from `seed`. */
  setRandomFaults(rnd: RandomFaults | undefined): void {
    setRandomFaults(this.core, rnd);
  }

  /** Set or clear a Reset/Finish Zone Recommended attribute. */
  setRecommendation(zone: number, which: 'reset' | 'finish', on: boolean): Rejection | undefined {
    return zones.setRecommendation(this.core, zone, which, on);
  }

  /** Every injected fault, as ctl commands that would set it again. */
  listFaults(): string[] {
    return zones.listFaults(this.core);
  }

  /** Remove every injected fault (Read Only and Offline zones come back Empty); returns the count. */
  clearFaults(): number {
    return zones.clearFaults(this.core);
  }

  // Zone management (zone-management.ts): durable, and makes the zone's cached writes durable

  manage(cmd: ZoneCommand, zone: number | 'all', opts: ManageOptions = {}): Rejection | undefined {
    return zones.manage(this.core, cmd, zone, opts);
  }

  /** ZRWA Flush: commit the zone's window up to and including `lba` (absolute, or zone-relative). */
  zrwaFlush(zone: number, lba: number): Rejection | undefined {
    return zones.zrwaFlush(this.core, zone, lba);
  }

  // The controller on its own (device-events.ts)

  /** Zone active excursion: the device finishes active zone `zone` by itself (ZFC). */
  excursion(zone: number): Rejection | DeviceEvent {
    return excursion(this.core, zone);
  }

  /** Advance the device clock (persistent) and apply the timers that expire. */
  advanceClock(seconds: number): DeviceEvent[] {
    return advanceClock(this.core, seconds);
  }

  /** Apply the timers that have expired by now (a mounted namespace does this every second). */
  runTimers(): DeviceEvent[] {
    if (this.closed) return [];
    try {
      return runDeviceTimers(this.core);
    } catch (e) {
      this.core.log.error({ err: e }, 'device timers: the zone records could not be written');
      return [];
    }
  }

  /** The device clock, ms since the epoch. */
  get deviceTime(): number {
    return this.core.clock();
  }

  /** The device's own zone changes, one line each (`<name>.events`). */
  get events(): EventLog {
    return this.core.events;
  }

  setDescriptorExtension(zone: number, data: Uint8Array): Rejection | undefined {
    return zones.setDescriptorExtension(this.core, zone, data);
  }

  injectFault(kind: FaultCommand, zone: number): Rejection | undefined {
    return zones.injectFault(this.core, kind, zone);
  }

  clearFault(zone: number): Rejection | undefined {
    return zones.clearFault(this.core, zone);
  }

  // Power (power.ts) and attachment

  get detached(): boolean {
    return (this.core.sidecar.header.flags & Flag.DETACHED) !== 0;
  }

  /** Record whether the namespace is attached to the subsystem (persistent). */
  setDetached(on: boolean): void {
    if (on === this.detached) return;
    const h = this.core.sidecar.header;
    const before = h.flags;
    if (on) h.flags |= Flag.DETACHED;
    else h.flags &= ~Flag.DETACHED;
    try {
      this.core.sidecar.writeHeader();
    } catch (e) {
      h.flags = before;
      throw e;
    }
  }

  /**
   * Where backing file-system failures go that fail no caller (a reset zone's space that cannot
   * be freed: the reset succeeded); by default the log. Failures of a call are thrown to its
   * caller as BackingStoreError.
   */
  onBackgroundFailure(listener: ((e: BackingStoreError) => void) | undefined): void {
    this.core.failures.listener = listener;
  }

  /**
   * Told the zones whose records the store writes, as it writes them: every zone change the
   * device makes (writes, commands, timers, power events) is among them, so a mount learns from
   * this exactly which zones changed. One listener (the mount's); undefined removes it.
   */
  onZoneRecordsWritten(listener: ((zones: readonly number[]) => void) | undefined): void {
    this.core.sidecar.recordsListener = listener;
  }

  /** Turn the volatile write cache on or off (turning it off flushes first). */
  setVolatileCache(on: boolean): void {
    power.setVolatileCache(this.core, on);
  }

  /**
   * Simulate a power event while running ('shutdown' or 'power-loss', see power.ts). Returns the
   * zones that changed.
   */
  powerCycle(event: power.PowerEvent, keep?: LossPolicy): number[] {
    return power.powerCycle(this.core, event, keep);
  }

  /**
   * Record this namespace's device-level operations into `dir` until stopTrace() (for
   * crashtest; see trace.ts). `limit`: the largest trace in bytes.
   */
  startTrace(dir: string, limit?: number): TraceRecorder {
    if (this.core.trace) throw new Error(`namespace ${this.name} is already being traced`);
    this.core.trace = new TraceRecorder(dir, this.name, this.core.sidecar.fd, limit);
    return this.core.trace;
  }

  stopTrace(): void {
    this.core.trace?.close();
    this.core.trace = undefined;
  }

  /** A label in the trace (`ctl mark LABEL`): crashtest tells the check the last one before a crash point. */
  mark(label: string): void {
    this.core.trace?.mark(label);
  }

  /** The spec's shutdown transitions without closing (open zones → Closed or Empty). */
  shutdownTransition(): number[] {
    return power.shutdownTransition(this.core);
  }

  // Space (space-reclaim.ts)

  /** Bytes of the data file actually allocated (st_blocks × 512). */
  allocatedBytes(): number {
    return fs.fstatSync(this.core.dataFd).blocks * 512;
  }

  /** Allocated byte ranges of the data file in [start, end). */
  allocatedRanges(start: number, end: number): Array<[number, number]> {
    return allocatedRanges(this.core.dataFd, start, end);
  }

  /** Close; with `clean` (the default) the sidecar is marked cleanly shut down. */
  close(clean = true): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timerPoll) clearInterval(this.timerPoll);
    this.stopTrace();
    try {
      if (!this.readOnly && clean) {
        // A clean stop is the controller's shutdown: flush, then open zones become Closed (or Empty).
        this.flush();
        this.shutdownTransition();
        this.core.sidecar.sync();
        this.core.sidecar.header.flags |= Flag.CLEAN;
        this.core.sidecar.writeHeader();
      }
    } finally {
      closeNamespaceFiles(this.core);
    }
  }
}
