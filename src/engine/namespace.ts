/**
 * The zone state machine of one namespace (NVMe ZNS 1.1 §2.1 and §3.4), in LBAs.
 *
 * Pure: no I/O, no clock, no logging. Every operation either succeeds and may change zones, or
 * returns a Rejection and changes nothing at all. The zones a successful operation changed are
 * available from lastChanges() (so a store can persist exactly those) and the operation can be
 * undone with revertLastOperation() (so a store can roll back when persisting fails).
 *
 * Per-zone state lives in typed arrays: about 40 bytes per zone, O(1) per single-zone command.
 * Open/active accounting covers sequential-write-required zones; host-aware (SWP) zones follow
 * the same states but, as in ZBC, their limits are advisory and they hold no resources.
 */
import { Geometry, resolveGeometry } from './geometry.js';
import { Rejection, Status, NvmeStatus } from './status.js';
import { ZoneAttr, ZoneState, ZoneType, isActive, isValidStoredState } from './zone.js';
import { DeviceEvent, DeviceEventReason } from './timers.js';
import { OrderedZoneList } from './zone-list.js';

const NOT_WP = ZoneState.NOT_WP;
const EMPTY = ZoneState.EMPTY;
const IOPEN = ZoneState.IMPLICIT_OPEN;
const EOPEN = ZoneState.EXPLICIT_OPEN;
const CLOSED = ZoneState.CLOSED;
const READ_ONLY = ZoneState.READ_ONLY;
const FULL = ZoneState.FULL;
const OFFLINE = ZoneState.OFFLINE;

/** Attributes a reset clears (ZNS §3.4.3.1.4): ZDEV, FZR, RZR, ZFC. */
const RESET_CLEARS = ZoneAttr.ZDEV | ZoneAttr.FZR | ZoneAttr.RZR | ZoneAttr.ZFC;

/** Internal per-zone flag bits (not NVMe attributes). */
export const ZoneFlag = Object.freeze({
  /** An SWP zone was written somewhere other than its write pointer (blkzone "non-seq"). */
  NON_SEQ: 0x01,
});

export type ZoneCommand = 'open' | 'close' | 'finish' | 'reset' | 'offline';

export interface ManageOptions {
  /** Open only: allocate a Zone Random Write Area (the ZRWAA bit of Open Zone). */
  zrwa?: boolean;
}

export interface EngineOptions {
  /**
   * The device clock, in ms since the epoch (the store passes wall time plus the offset that
   * `clock +SECONDS` adds). Read only when a zone starts a timed stay and by tick(); the
   * default is a test clock stuck at 0.
   */
  clock?: () => number;
}
export type FaultCommand = 'readonly' | 'offline';

/** Report filters of Zone Management Receive (ZRASF), plus `not-wp` for conventional zones. */
export type ReportFilter =
  | 'all'
  | 'empty'
  | 'implicit-open'
  | 'explicit-open'
  | 'closed'
  | 'full'
  | 'read-only'
  | 'offline'
  | 'attributes'
  | 'not-wp';

export const REPORT_FILTERS: readonly ReportFilter[] = [
  'all', 'empty', 'implicit-open', 'explicit-open', 'closed', 'full', 'read-only', 'offline',
  'attributes', 'not-wp',
];

export interface ZoneDescriptor {
  zone: number;
  type: ZoneType;
  state: ZoneState;
  /** First LBA. */
  zslba: number;
  /** Zone size in LBAs. */
  zsze: number;
  /** Writable LBAs. */
  zcap: number;
  /**
   * Absolute write pointer in LBAs: the end of written data. It is meaningful for Empty, open
   * and Closed zones; reports print it the way each tool does for Full, Read Only and Offline.
   */
  wp: number;
  attrs: number;
  attrsInfo: number;
  /** ZRWA zones (ZRWAV): one past the highest LBA written in the window; = wp otherwise. */
  zrwaEnd: number;
  nonSeq: boolean;
  resets: number;
  finishes: number;
  lbasWritten: number;
  /** Descriptor extension data, when the zone has one (ZDEV set). */
  ext?: Uint8Array;
}

export interface ReportOptions {
  /** Report starts at the zone holding this LBA. */
  slba?: number;
  filter?: ReportFilter;
  /** At most this many descriptors. */
  max?: number;
  /** Partial report: nrZones counts only the descriptors returned (ZRA bit 16). */
  partial?: boolean;
}

export interface ZoneReport {
  /** Matching zones from the start zone to the end of the namespace, or only those returned. */
  nrZones: number;
  zones: ZoneDescriptor[];
}

export interface ZoneCounts {
  empty: number;
  implicitOpen: number;
  explicitOpen: number;
  closed: number;
  full: number;
  readOnly: number;
  offline: number;
  conventional: number;
  /** Open zones holding an open resource (SWR only). */
  open: number;
  /** Zones holding an active resource (SWR only). */
  active: number;
}

/** What a zone looked like before an operation changed it. */
interface ZoneSnapshot {
  zone: number;
  state: number;
  wp: number;
  attrs: number;
  flags: number;
  resets: number;
  finishes: number;
  written: number;
  ioSeq: number;
  ext: Uint8Array | undefined;
  zrwaEnd: number;
  fullSince: number;
  activeSince: number;
}

/** Raised while loading persisted zones that cannot be valid. */
export class ZoneLoadError extends Error {
  constructor(readonly zone: number, readonly field: string, message: string) {
    super(zone >= 0 ? `zone ${zone}: ${message}` : message);
    this.name = 'ZoneLoadError';
  }
}

export class ZonedNamespace {
  readonly geometry: Readonly<Geometry>;
  readonly lbaSize: number;
  /** Total LBAs. */
  readonly nlba: number;
  /** LBAs per zone (0 when not zoned). */
  readonly zoneLbas: number;
  /** Writable LBAs per sequential zone. */
  readonly capLbas: number;
  readonly nrZones: number;
  readonly convZones: number;
  readonly maxOpen: number;
  readonly maxActive: number;
  /** Zone append limit in LBAs (0 = none). */
  readonly zaslLbas: number;
  readonly seqType: ZoneType;
  readonly autoTransition: boolean;
  /** ZRWA size and flush granularity in LBAs (0 = no ZRWA support), and ZRWA resources. */
  readonly zrwaLbas: number;
  readonly zrwafgLbas: number;
  readonly numZrwa: number;
  /** Reset / Finish Recommended Limits in ms (0 = off). */
  readonly rrlMs: number;
  readonly frlMs: number;

  private readonly state: Uint8Array;
  private readonly wp: Float64Array;
  private readonly attrs: Uint8Array;
  private readonly flags: Uint8Array;
  private readonly resets: Uint32Array;
  private readonly finishes: Uint32Array;
  private readonly written: Float64Array;
  private readonly ext = new Map<number, Uint8Array>();
  /**
   * ZRWA zones: one past the highest LBA written in the window (≥ wp). Between wp and it the
   * data is readable but not yet committed to the zone.
   */
  private readonly zrwaEnd: Float64Array;
  private zrwaFree = 0;
  /** Zones that are Full (RRL timer) and zones that are active (FRL timer), by entry time. */
  private readonly fullTimer: OrderedZoneList;
  private readonly activeTimer: OrderedZoneList;
  private readonly clock: () => number;

  /** FIFO of implicitly opened resource-holding zones, oldest at the head (doubly linked). */
  /** Implicitly opened zones, oldest first (the controller closes the head to make room). */
  private readonly implicitOpen: OrderedZoneList;
  private ioCounter = 0;

  private nrOpen = 0;
  private nrActive = 0;
  private readonly stateCount = new Int32Array(16);

  /** Change journal of the last mutating operation. */
  private journal: ZoneSnapshot[] = [];
  private readonly touched: Uint32Array;
  private epoch = 1;

  constructor(geometry: Partial<Geometry> = {}, opts: EngineOptions = {}) {
    const g = resolveGeometry(geometry);
    this.clock = opts.clock ?? (() => 0);
    this.geometry = Object.freeze(g);
    this.lbaSize = g.lbaSize;
    this.nlba = g.capacity / g.lbaSize;
    this.zoneLbas = g.zoned ? g.zoneSize / g.lbaSize : 0;
    this.capLbas = g.zoned ? g.zoneCapacity / g.lbaSize : 0;
    this.nrZones = g.zoned ? g.capacity / g.zoneSize : 0;
    this.convZones = g.convZones;
    this.maxOpen = g.maxOpen;
    this.maxActive = g.maxActive;
    this.zaslLbas = g.zasl / g.lbaSize;
    this.seqType = g.zoneModel === 'host-aware' ? ZoneType.SEQ_WRITE_PREFERRED : ZoneType.SEQ_WRITE_REQUIRED;
    this.autoTransition = g.autoTransition;
    this.zrwaLbas = g.zrwas / g.lbaSize;
    this.zrwafgLbas = g.zrwas !== 0 ? g.zrwafg / g.lbaSize : 0;
    this.numZrwa = g.zrwas !== 0 ? g.numzrwa : 0;
    this.zrwaFree = this.numZrwa;
    this.rrlMs = g.rrl * 1000;
    this.frlMs = g.frl * 1000;

    const n = this.nrZones;
    // Only namespaces that use a feature pay its memory.
    this.zrwaEnd = new Float64Array(this.zrwaLbas !== 0 ? n : 0);
    this.fullTimer = new OrderedZoneList(this.rrlMs !== 0 ? n : 0);
    this.activeTimer = new OrderedZoneList(this.frlMs !== 0 ? n : 0);
    this.state = new Uint8Array(n);
    this.wp = new Float64Array(n);
    this.attrs = new Uint8Array(n);
    this.flags = new Uint8Array(n);
    this.resets = new Uint32Array(n);
    this.finishes = new Uint32Array(n);
    this.written = new Float64Array(n);
    this.implicitOpen = new OrderedZoneList(n);
    this.touched = new Uint32Array(n);
    for (let z = 0; z < n; z++) {
      const conv = z < this.convZones;
      this.state[z] = conv ? NOT_WP : EMPTY;
      this.wp[z] = z * this.zoneLbas;
    }
    this.stateCount[NOT_WP] = this.convZones;
    this.stateCount[EMPTY] = n - this.convZones;
  }

  // ---------------------------------------------------------------------------------------------
  // Geometry helpers

  get zoned(): boolean {
    return this.geometry.zoned;
  }

  zoneOf(lba: number): number {
    return Math.floor(lba / this.zoneLbas);
  }

  zoneStart(z: number): number {
    return z * this.zoneLbas;
  }

  typeOf(z: number): ZoneType {
    return z < this.convZones ? ZoneType.CONVENTIONAL : this.seqType;
  }

  isConventional(z: number): boolean {
    return z < this.convZones;
  }

  stateOf(z: number): ZoneState {
    return this.state[z] as ZoneState;
  }

  /** Absolute write pointer (end of written data) of a sequential zone. */
  wpOf(z: number): number {
    return this.wp[z]!;
  }

  attrsOf(z: number): number {
    return this.attrs[z]!;
  }

  flagsOf(z: number): number {
    return this.flags[z]!;
  }

  extOf(z: number): Uint8Array | undefined {
    return this.ext.get(z);
  }

  resetsOf(z: number): number {
    return this.resets[z]!;
  }

  finishesOf(z: number): number {
    return this.finishes[z]!;
  }

  lbasWrittenOf(z: number): number {
    return this.written[z]!;
  }

  /**
   * LBAs from the zone start that hold data: everything for a conventional zone, up to the
   * write pointer for a sequential one, nothing for an offline one.
   */
  dataLbas(z: number): number {
    if (z < this.convZones) return this.zoneLbas;
    const s = this.state[z];
    if (s === OFFLINE) return 0;
    const wp = this.wp[z]!;
    if ((this.attrs[z]! & ZoneAttr.ZRWAV) !== 0 && this.zrwaEnd[z]! > wp) return this.zrwaEnd[z]! - z * this.zoneLbas;
    return wp - z * this.zoneLbas;
  }

  /** ZRWA zones: one past the highest LBA written in the window (= wp when nothing is). */
  zrwaEndOf(z: number): number {
    return (this.attrs[z]! & ZoneAttr.ZRWAV) !== 0 ? Math.max(this.wp[z]!, this.zrwaEnd[z]!) : this.wp[z]!;
  }

  /** ZRWA resources in use. */
  get zrwaInUse(): number {
    return this.numZrwa - this.zrwaFree;
  }

  /**
   * Device time (ms) at which the zone's current timed stay began (Full for RRL, active for
   * FRL), or -1 when no timer runs for it.
   */
  timerSinceOf(z: number): number {
    const s = this.state[z]!;
    if (s === FULL) return this.fullTimer.key.length ? this.fullTimer.key[z]! : -1;
    if (isActive(s)) return this.activeTimer.key.length ? this.activeTimer.key[z]! : -1;
    return -1;
  }

  /** The device time at which the next timer expires, or Infinity when none runs. */
  nextDeadline(): number {
    let t = Infinity;
    if (this.fullTimer.head >= 0) t = this.fullTimer.key[this.fullTimer.head]! + this.rrlMs;
    if (this.activeTimer.head >= 0) t = Math.min(t, this.activeTimer.key[this.activeTimer.head]! + this.frlMs);
    return t;
  }

  /** Does this zone hold an open/active resource when open or closed? */
  private limited(z: number): boolean {
    return this.seqType === ZoneType.SEQ_WRITE_REQUIRED && z >= this.convZones;
  }

  // ---------------------------------------------------------------------------------------------
  // Counts

  counts(): ZoneCounts {
    const c = this.stateCount;
    return {
      empty: c[EMPTY]!,
      implicitOpen: c[IOPEN]!,
      explicitOpen: c[EOPEN]!,
      closed: c[CLOSED]!,
      full: c[FULL]!,
      readOnly: c[READ_ONLY]!,
      offline: c[OFFLINE]!,
      conventional: c[NOT_WP]!,
      open: this.nrOpen,
      active: this.nrActive,
    };
  }

  get openCount(): number {
    return this.nrOpen;
  }

  get activeCount(): number {
    return this.nrActive;
  }

  /** The implicitly opened zone the controller would close next, or -1. */
  get oldestImplicitlyOpen(): number {
    return this.implicitOpen.head;
  }

  // ---------------------------------------------------------------------------------------------
  // Change journal

  /** Zones changed by the last mutating operation, in the order they were first changed. */
  lastChanges(): number[] {
    return this.journal.map((s) => s.zone);
  }

  /** Undo the last mutating operation completely (zones, counters, implicit-open order). */
  revertLastOperation(): void {
    const j = this.journal;
    for (let i = j.length - 1; i >= 0; i--) {
      const s = j[i]!;
      const z = s.zone;
      this.moveTo(z, s.state, s.ioSeq);
      this.setZrwa(z, (s.attrs & ZoneAttr.ZRWAV) !== 0);
      if (this.zrwaEnd.length) this.zrwaEnd[z] = s.zrwaEnd;
      restoreTimer(this.fullTimer, z, s.fullSince);
      restoreTimer(this.activeTimer, z, s.activeSince);
      this.wp[z] = s.wp;
      this.attrs[z] = s.attrs;
      this.flags[z] = s.flags;
      this.resets[z] = s.resets;
      this.finishes[z] = s.finishes;
      this.written[z] = s.written;
      if (s.ext) this.ext.set(z, s.ext);
      else this.ext.delete(z);
    }
    this.begin();
  }

  private begin(): void {
    this.journal = [];
    if (++this.epoch === 0xffffffff) {
      this.touched.fill(0);
      this.epoch = 1;
    }
  }

  /** Record a zone's prior state before its first change in this operation. */
  private touch(z: number): void {
    if (this.touched[z] === this.epoch) return;
    this.touched[z] = this.epoch;
    this.journal.push({
      zone: z,
      state: this.state[z]!,
      wp: this.wp[z]!,
      attrs: this.attrs[z]!,
      flags: this.flags[z]!,
      resets: this.resets[z]!,
      finishes: this.finishes[z]!,
      written: this.written[z]!,
      ioSeq: this.implicitOpen.key[z]!,
      ext: this.ext.get(z),
      zrwaEnd: this.zrwaEnd.length ? this.zrwaEnd[z]! : 0,
      fullSince: this.fullTimer.key.length ? this.fullTimer.key[z]! : -1,
      activeSince: this.activeTimer.key.length ? this.activeTimer.key[z]! : -1,
    });
  }

  // ---------------------------------------------------------------------------------------------
  // State bookkeeping

  /**
   * Put zone z in state `to`, keeping counts, resources and the implicit-open FIFO right.
   * `seq` re-links a reverted zone at its old place in the FIFO.
   */
  private moveTo(z: number, to: number, seq = -1): void {
    const from = this.state[z]!;
    if (from === to) return;
    this.stateCount[from]!--;
    this.stateCount[to]!++;
    this.state[z] = to;
    if ((this.attrs[z]! & ZoneAttr.ZRWAV) !== 0 && !isActive(to)) {
      // Finish (and a fault that finishes first) commits the window; Empty and Offline drop it.
      // Either way the zone gives its ZRWA resource back.
      if ((to === FULL || to === READ_ONLY) && this.zrwaEnd[z]! > this.wp[z]!) this.wp[z] = this.zrwaEnd[z]!;
      this.setZrwa(z, false);
    }
    if (to === FULL) this.attrs[z]! &= ~ZoneAttr.FZR;
    if (this.rrlMs !== 0) {
      if (to === FULL) this.fullTimer.push(z, this.clock());
      else if (from === FULL) this.fullTimer.remove(z);
    }
    if (this.frlMs !== 0) {
      if (isActive(to) && !isActive(from)) this.activeTimer.push(z, this.clock());
      else if (!isActive(to) && isActive(from)) this.activeTimer.remove(z);
    }
    if (!this.limited(z)) return;
    const wasOpen = from === IOPEN || from === EOPEN;
    const nowOpen = to === IOPEN || to === EOPEN;
    this.nrOpen += (nowOpen ? 1 : 0) - (wasOpen ? 1 : 0);
    this.nrActive += (isActive(to) ? 1 : 0) - (isActive(from) ? 1 : 0);
    if (from === IOPEN) this.implicitOpen.remove(z);
    if (to === IOPEN) {
      if (seq >= 0) this.implicitOpen.insertSorted(z, seq);
      else this.implicitOpen.push(z, ++this.ioCounter);
    }
  }

  /** Take or give back zone z's ZRWA resource (the ZRWAV attribute and the free count). */
  private setZrwa(z: number, on: boolean): void {
    const has = (this.attrs[z]! & ZoneAttr.ZRWAV) !== 0;
    if (has === on) return;
    if (on) {
      this.attrs[z]! |= ZoneAttr.ZRWAV;
      this.zrwaFree--;
    } else {
      this.attrs[z]! &= ~ZoneAttr.ZRWAV;
      this.zrwaFree++;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Rejections

  private reject(status: NvmeStatus, op: string, zone: number, lba: number, detail: string): Rejection {
    const wp = zone >= this.convZones && zone < this.nrZones ? this.wp[zone]! : -1;
    // A refused command is the last operation and it changed nothing: forget the previous
    // operation's journal so lastChanges()/revertLastOperation() cannot act on it by mistake.
    if (this.journal.length > 0) this.begin();
    return { status, op, zone, lba, wp, detail };
  }

  private stateRejection(z: number, op: string, lba: number): Rejection | undefined {
    const s = this.state[z];
    if (s === FULL) return this.reject(Status.ZONE_FULL, op, z, lba, `zone ${z} is full`);
    if (s === READ_ONLY) return this.reject(Status.ZONE_READ_ONLY, op, z, lba, `zone ${z} is read only`);
    if (s === OFFLINE) return this.reject(Status.ZONE_OFFLINE, op, z, lba, `zone ${z} is offline`);
    return undefined;
  }

  private transitionRejection(z: number, op: string): Rejection {
    return this.reject(
      Status.INVALID_TRANSITION, op, z, this.zoneStart(z),
      `cannot ${op.replace('zone ', '')} zone ${z} in state ${stateLabel(this.state[z]!)}`,
    );
  }

  /**
   * Can zone z become open (from Empty when `fromEmpty`, else from Closed)? Checks the active
   * limit first, then the open limit allowing for the controller closing its oldest implicitly
   * opened zone. Pure: the close happens in makeRoomToOpen, only once the command will succeed.
   */
  private resourceRejection(z: number, fromEmpty: boolean, op: string, lba: number): Rejection | undefined {
    if (!this.limited(z)) return undefined;
    if (fromEmpty && this.maxActive !== 0 && this.nrActive + 1 > this.maxActive) {
      return this.reject(Status.TOO_MANY_ACTIVE, op, z, lba,
        `opening zone ${z} needs an active resource; ${this.nrActive} of ${this.maxActive} in use`);
    }
    if (this.maxOpen !== 0 && this.nrOpen + 1 > this.maxOpen && !(this.autoTransition && this.implicitOpen.head >= 0)) {
      return this.reject(Status.TOO_MANY_OPEN, op, z, lba,
        `opening zone ${z} needs an open resource; ${this.nrOpen} of ${this.maxOpen} in use` +
        (this.autoTransition ? ', none implicitly opened' : ''));
    }
    return undefined;
  }

  /** Close the oldest implicitly opened zone if z could not open otherwise. */
  private makeRoomToOpen(z: number): void {
    if (!this.limited(z) || this.maxOpen === 0 || this.nrOpen < this.maxOpen) return;
    const victim = this.implicitOpen.head;
    this.touch(victim);
    this.moveTo(victim, CLOSED);
  }

  private badLength(op: string, lba: number, nlb: number): Rejection | undefined {
    if (!Number.isSafeInteger(nlb) || nlb < 1) {
      return this.reject(Status.INVALID_FIELD, op, -1, lba, `invalid block count ${nlb}`);
    }
    if (!Number.isSafeInteger(lba) || lba < 0 || lba + nlb > this.nlba) {
      return this.reject(Status.LBA_OUT_OF_RANGE, op, -1, lba,
        `LBAs ${lba}..${lba + nlb - 1} are outside the namespace (${this.nlba} LBAs)`);
    }
    return undefined;
  }

  // ---------------------------------------------------------------------------------------------
  // I/O

  /** Check a read of nlb LBAs at slba. */
  checkRead(slba: number, nlb: number): Rejection | undefined {
    const bad = this.badLength('read', slba, nlb);
    if (bad || !this.geometry.zoned) return bad;
    const first = this.zoneOf(slba);
    const last = this.zoneOf(slba + nlb - 1);
    if (first !== last && !this.geometry.crossRead) {
      return this.reject(Status.ZONE_BOUNDARY_ERROR, 'read', first, slba,
        `read of LBAs ${slba}..${slba + nlb - 1} crosses from zone ${first} into zone ${first + 1} and cross-zone reads are off`);
    }
    for (let z = first; z <= last; z++) {
      if (this.state[z] === OFFLINE) {
        return this.reject(Status.ZONE_OFFLINE, 'read', z, slba, `zone ${z} is offline`);
      }
    }
    return undefined;
  }

  /** Check a write of nlb LBAs at slba; changes nothing. */
  checkWrite(slba: number, nlb: number): Rejection | undefined {
    const bad = this.badLength('write', slba, nlb);
    if (bad || !this.geometry.zoned) return bad;
    const z = this.zoneOf(slba);
    if (z < this.convZones) {
      const convEnd = this.convZones * this.zoneLbas;
      if (slba + nlb > convEnd) {
        return this.reject(Status.ZONE_BOUNDARY_ERROR, 'write', this.zoneOf(convEnd), slba,
          `write of LBAs ${slba}..${slba + nlb - 1} crosses from conventional zone ${this.convZones - 1} into sequential zone ${this.convZones}`);
      }
      return undefined;
    }
    const st = this.stateRejection(z, 'write', slba);
    if (st) return st;
    const wp = this.wp[z]!;
    if ((this.attrs[z]! & ZoneAttr.ZRWAV) !== 0) {
      // Anywhere in the window, or up to one window beyond it (the excess is flushed implicitly).
      if (slba < wp || slba + nlb > wp + 2 * this.zrwaLbas) {
        return this.reject(Status.ZONE_INVALID_WRITE, 'write', z, slba,
          `write of LBAs ${slba}..${slba + nlb - 1} is outside zone ${z}'s ZRWA: writes may start at LBA ${wp} or later and end ` +
          `by LBA ${wp + 2 * this.zrwaLbas - 1} (window LBAs ${wp}..${wp + this.zrwaLbas - 1}, beyond it flushed implicitly)`);
      }
    } else if (this.seqType === ZoneType.SEQ_WRITE_REQUIRED && slba !== wp) {
      return this.reject(Status.ZONE_INVALID_WRITE, 'write', z, slba,
        `write at LBA ${slba} but zone ${z}'s write pointer is at LBA ${wp}`);
    }
    const end = z * this.zoneLbas + this.capLbas;
    if (slba + nlb > end) {
      return this.reject(Status.ZONE_BOUNDARY_ERROR, 'write', z, slba,
        `write of LBAs ${slba}..${slba + nlb - 1} goes past zone ${z}'s capacity (last writable LBA ${end - 1})`);
    }
    const s = this.state[z];
    if (s === EMPTY || s === CLOSED) return this.resourceRejection(z, s === EMPTY, 'write', slba);
    return undefined;
  }

  /** Apply a write that checkWrite accepted. */
  commitWrite(slba: number, nlb: number): void {
    this.begin();
    if (!this.geometry.zoned) return;
    const z = this.zoneOf(slba);
    if (z < this.convZones) return;
    this.advance(z, slba, nlb);
  }

  /** Write nlb LBAs at slba: check, then apply. */
  write(slba: number, nlb: number): Rejection | undefined {
    const r = this.checkWrite(slba, nlb);
    if (r) return r;
    this.commitWrite(slba, nlb);
    return undefined;
  }

  /** Check a Zone Append of nlb LBAs to zone z; returns the LBA it would land at. */
  checkAppend(z: number, nlb: number): Rejection | number {
    if (!this.geometry.zoned) {
      return this.reject(Status.INVALID_OPCODE, 'zone append', -1, 0, 'the namespace is not zoned');
    }
    if (!Number.isSafeInteger(z) || z < 0 || z >= this.nrZones) {
      return this.reject(Status.LBA_OUT_OF_RANGE, 'zone append', -1, 0, `zone ${z} does not exist`);
    }
    const zslba = z * this.zoneLbas;
    if (!Number.isSafeInteger(nlb) || nlb < 1) {
      return this.reject(Status.INVALID_FIELD, 'zone append', z, zslba, `invalid block count ${nlb}`);
    }
    if (this.zaslLbas !== 0 && nlb > this.zaslLbas) {
      return this.reject(Status.INVALID_FIELD, 'zone append', z, zslba,
        `append of ${nlb} LBAs exceeds the zone append size limit of ${this.zaslLbas} LBAs`);
    }
    if (z < this.convZones) {
      return this.reject(Status.INVALID_ZONE_OP, 'zone append', z, zslba, `zone ${z} is conventional`);
    }
    if ((this.attrs[z]! & ZoneAttr.ZRWAV) !== 0) {
      return this.reject(Status.INVALID_ZONE_OP, 'zone append', z, zslba, `zone ${z} has a ZRWA; zone append is not allowed there`);
    }
    const st = this.stateRejection(z, 'zone append', zslba);
    if (st) return st;
    const wp = this.wp[z]!;
    if (wp + nlb > zslba + this.capLbas) {
      return this.reject(Status.ZONE_BOUNDARY_ERROR, 'zone append', z, wp,
        `append of ${nlb} LBAs at LBA ${wp} goes past zone ${z}'s capacity (last writable LBA ${zslba + this.capLbas - 1})`);
    }
    const s = this.state[z];
    if (s === EMPTY || s === CLOSED) {
      const r = this.resourceRejection(z, s === EMPTY, 'zone append', wp);
      if (r) return r;
    }
    return wp;
  }

  /** Zone Append: returns the LBA where the data lands (the write pointer), or a Rejection. */
  append(z: number, nlb: number): Rejection | number {
    const r = this.checkAppend(z, nlb);
    if (typeof r !== 'number') return r;
    this.begin();
    this.advance(z, r, nlb);
    return r;
  }

  /** Move a sequential zone's write pointer for an accepted write; opens or fills it. */
  private advance(z: number, slba: number, nlb: number): void {
    const s = this.state[z];
    // The zone closed to make room is journaled first, so a store persists its record first:
    // a crash in between never leaves more open zones on disk than the limit.
    if (s === EMPTY || s === CLOSED) this.makeRoomToOpen(z);
    this.touch(z);
    if (s === EMPTY || s === CLOSED) this.moveTo(z, IOPEN);
    const end = slba + nlb;
    const wp = this.wp[z]!;
    if ((this.attrs[z]! & ZoneAttr.ZRWAV) !== 0) {
      this.advanceInZrwa(z, end, nlb);
      return;
    }
    if (slba !== wp) this.flags[z]! |= ZoneFlag.NON_SEQ;
    if (end > wp) this.wp[z] = end;
    this.written[z] += nlb;
    if (this.wp[z] === z * this.zoneLbas + this.capLbas) this.moveTo(z, FULL);
  }

  /**
   * A write into the ZRWA: the data stays in the window; the part that ends beyond the window
   * flushes the window implicitly by whole flush-granularity units (as QEMU does), which moves
   * the write pointer just far enough for the written LBAs to fit.
   */
  private advanceInZrwa(z: number, end: number, nlb: number): void {
    if (end > this.zrwaEnd[z]!) this.zrwaEnd[z] = end;
    this.written[z] += nlb;
    const windowEnd = this.wp[z]! + this.zrwaLbas;
    if (end > windowEnd) {
      const fg = this.zrwafgLbas;
      this.wp[z] += Math.ceil((end - windowEnd) / fg) * fg;
      if (this.wp[z] === z * this.zoneLbas + this.capLbas) this.moveTo(z, FULL);
    }
  }

  /**
   * ZRWA Flush (Zone Management Send action 11h): commit the window up to and including `lba`,
   * moving the write pointer to lba + 1. `lba` is absolute, or relative to the zone start when
   * it is below the zone start (no absolute LBA below it could name this zone's window). The
   * flushed count must be a whole number of flush granularities. A Closed zone is opened
   * implicitly, as a write would open it.
   */
  zrwaFlush(z: number, lba: number): Rejection | undefined {
    const op = 'zrwa flush';
    if (!this.geometry.zoned) return this.reject(Status.INVALID_OPCODE, op, -1, lba, 'the namespace is not zoned');
    if (this.zrwaLbas === 0) {
      return this.reject(Status.INVALID_ZONE_OP, op, -1, lba, 'the namespace has no ZRWA support (create it with --zrwas)');
    }
    const bad = this.targetRejection(z, op);
    if (bad) return bad;
    const zslba = this.zoneStart(z);
    const elba = Number.isSafeInteger(lba) && lba >= 0 && lba < zslba ? zslba + lba : lba;
    if ((this.attrs[z]! & ZoneAttr.ZRWAV) === 0) {
      return this.reject(Status.INVALID_FIELD, op, z, elba, `zone ${z} has no ZRWA (open it with "open ${z} zrwa")`);
    }
    const wp = this.wp[z]!;
    const last = Math.min(wp + this.zrwaLbas, zslba + this.capLbas) - 1;
    if (!Number.isSafeInteger(elba) || elba < wp || elba > last) {
      return this.reject(Status.ZONE_BOUNDARY_ERROR, op, z, elba,
        `LBA ${elba} is outside zone ${z}'s ZRWA (LBAs ${wp}..${last})`);
    }
    const nlb = elba - wp + 1;
    if (nlb % this.zrwafgLbas !== 0) {
      return this.reject(Status.INVALID_FIELD, op, z, elba,
        `flushing LBAs ${wp}..${elba} (${nlb}) is not a whole number of flush granularities (${this.zrwafgLbas} LBAs)`);
    }
    const s = this.state[z];
    if (s === CLOSED) {
      const r = this.resourceRejection(z, false, op, elba);
      if (r) return r;
    }
    this.begin();
    if (s === CLOSED) this.makeRoomToOpen(z);
    this.touch(z);
    if (s === CLOSED) this.moveTo(z, IOPEN);
    this.wp[z] = elba + 1;
    if (this.zrwaEnd[z]! < elba + 1) this.zrwaEnd[z] = elba + 1;
    if (elba + 1 === zslba + this.capLbas) this.moveTo(z, FULL);
    return undefined;
  }

  /** Open Zone with the ZRWA Allocate bit: QEMU's order of checks, then the spec's resources. */
  private openWithZrwa(z: number): Rejection | undefined {
    const op = 'zone open (zrwa)';
    const zslba = this.zoneStart(z);
    if (this.zrwaLbas === 0) {
      return this.reject(Status.INVALID_ZONE_OP, op, z, zslba, 'the namespace has no ZRWA support (create it with --zrwas)');
    }
    const s = this.state[z]!;
    if (s !== EMPTY && s !== CLOSED && s !== IOPEN && s !== EOPEN) return this.transitionRejection(z, op);
    const has = (this.attrs[z]! & ZoneAttr.ZRWAV) !== 0;
    const wp = this.wp[z]!;
    if (!has && (wp - zslba) % this.zrwafgLbas !== 0) {
      return this.reject(Status.ZRWA_UNAVAILABLE, op, z, zslba,
        `zone ${z}'s write pointer (LBA ${wp}) is not on a ZRWA flush granularity boundary (${this.zrwafgLbas} LBAs)`);
    }
    if (s === EMPTY || s === CLOSED) {
      const r = this.resourceRejection(z, s === EMPTY, op, zslba);
      if (r) return r;
    }
    if (!has && this.zrwaFree === 0) {
      return this.reject(Status.ZRWA_UNAVAILABLE, op, z, zslba, `all ${this.numZrwa} ZRWA resources are in use`);
    }
    this.begin();
    if (s === EMPTY || s === CLOSED) this.makeRoomToOpen(z);
    this.touch(z);
    this.moveTo(z, EOPEN);
    if (!has) {
      this.setZrwa(z, true);
      this.zrwaEnd[z] = wp;
    }
    return undefined;
  }

  // ---------------------------------------------------------------------------------------------
  // The controller acting on its own: timers and excursions

  /**
   * Let the device clock reach `now`: every zone Full for RRL gets Reset Zone Recommended, every
   * zone active for FRL gets Finish Zone Recommended. Returns what changed (lastChanges() has the
   * zones), oldest expiry first. O(expired timers).
   */
  tick(now = this.clock()): DeviceEvent[] {
    this.begin();
    const events: DeviceEvent[] = [];
    const expire = (list: OrderedZoneList, limitMs: number, attr: number, reason: DeviceEventReason): void => {
      while (list.head >= 0 && list.key[list.head]! + limitMs <= now) {
        const z = list.head;
        const at = list.key[z]! + limitMs;
        this.touch(z);
        list.remove(z);
        const from = this.attrs[z]!;
        if ((from & attr) !== 0) continue;
        this.attrs[z] = from | attr;
        const s = this.state[z]!;
        events.push({ time: at, zone: z, fromState: s, toState: s, fromAttrs: from, toAttrs: from | attr, reason, limit: limitMs / 1000 });
      }
    };
    if (this.rrlMs !== 0) expire(this.fullTimer, this.rrlMs, ZoneAttr.RZR, 'reset-recommended-limit');
    if (this.frlMs !== 0) expire(this.activeTimer, this.frlMs, ZoneAttr.FZR, 'finish-recommended-limit');
    if (events.length > 1) events.sort((a, b) => a.time - b.time);
    return events;
  }

  /**
   * Zone Active Excursion: the controller finishes an active zone by itself (Zone Finished by
   * Controller), committing a ZRWA window and releasing the zone's resources.
   */
  excursion(z: number, now = this.clock()): Rejection | DeviceEvent {
    const op = 'zone active excursion';
    const bad = this.targetRejection(z, op);
    if (bad) return bad;
    const s = this.state[z]!;
    if (!isActive(s)) return this.transitionRejection(z, op);
    const from = this.attrs[z]!;
    this.begin();
    this.touch(z);
    this.moveTo(z, FULL);
    this.attrs[z]! |= ZoneAttr.ZFC;
    return { time: now, zone: z, fromState: s, toState: FULL, fromAttrs: from, toAttrs: this.attrs[z]!, reason: 'zone-active-excursion' };
  }

  // ---------------------------------------------------------------------------------------------
  // Zone management send

  /** Check that z names a zone that zone commands apply to. */
  private targetRejection(z: number, op: string): Rejection | undefined {
    if (!this.geometry.zoned) {
      return this.reject(Status.INVALID_OPCODE, op, -1, 0, 'the namespace is not zoned');
    }
    if (!Number.isSafeInteger(z) || z < 0 || z >= this.nrZones) {
      return this.reject(Status.LBA_OUT_OF_RANGE, op, -1, 0, `zone ${z} does not exist (the namespace has ${this.nrZones} zones)`);
    }
    if (z < this.convZones) {
      return this.reject(Status.INVALID_FIELD, op, z, this.zoneStart(z), `zone ${z} is conventional`);
    }
    return undefined;
  }

  /**
   * Zone index for a Zone Management SLBA, which must be a zone's first LBA (else Invalid
   * Field, as the spec requires).
   */
  zoneAtStart(slba: number, op = 'zone management'): Rejection | number {
    if (!this.geometry.zoned) {
      return this.reject(Status.INVALID_OPCODE, op, -1, slba, 'the namespace is not zoned');
    }
    if (!Number.isSafeInteger(slba) || slba < 0 || slba >= this.nlba) {
      return this.reject(Status.LBA_OUT_OF_RANGE, op, -1, slba, `LBA ${slba} is outside the namespace`);
    }
    if (slba % this.zoneLbas !== 0) {
      return this.reject(Status.INVALID_FIELD, op, this.zoneOf(slba), slba, `LBA ${slba} is not the start of a zone`);
    }
    return slba / this.zoneLbas;
  }

  /** A zone management command on zone z, or on every zone it applies to with 'all'. */
  manage(cmd: ZoneCommand, z: number | 'all', opts: ManageOptions = {}): Rejection | undefined {
    if (opts.zrwa && (cmd !== 'open' || z === 'all')) {
      return this.reject(Status.INVALID_FIELD, `zone ${cmd}`, z === 'all' ? -1 : z, 0,
        z === 'all' ? 'a ZRWA cannot be allocated with select all' : `only open allocates a ZRWA, not ${cmd}`);
    }
    if (z === 'all') return this.manageAll(cmd);
    const op = `zone ${cmd}`;
    const bad = this.targetRejection(z, op);
    if (bad) return bad;
    if (opts.zrwa) return this.openWithZrwa(z);
    const s = this.state[z]!;
    switch (cmd) {
      case 'open': {
        if (s === EOPEN) return this.done();
        if (s === IOPEN) {
          this.begin();
          this.touch(z);
          this.moveTo(z, EOPEN);
          return undefined;
        }
        if (s !== EMPTY && s !== CLOSED) return this.transitionRejection(z, op);
        const r = this.resourceRejection(z, s === EMPTY, op, this.zoneStart(z));
        if (r) return r;
        this.begin();
        this.makeRoomToOpen(z);
        this.touch(z);
        this.moveTo(z, EOPEN);
        return undefined;
      }
      case 'close': {
        if (s === CLOSED) return this.done();
        if (s !== IOPEN && s !== EOPEN) return this.transitionRejection(z, op);
        this.begin();
        this.touch(z);
        this.moveTo(z, CLOSED);
        return undefined;
      }
      case 'finish': {
        if (s === FULL) return this.done();
        if (s === READ_ONLY || s === OFFLINE) return this.transitionRejection(z, op);
        this.begin();
        this.finishZone(z);
        return undefined;
      }
      case 'reset': {
        if (s === READ_ONLY || s === OFFLINE) return this.transitionRejection(z, op);
        this.begin();
        if (s === EMPTY && this.attrs[z] === 0 && this.flags[z] === 0) return undefined;
        this.resetZone(z);
        return undefined;
      }
      case 'offline': {
        if (s === OFFLINE) return this.done();
        if (s !== READ_ONLY) return this.transitionRejection(z, op);
        this.begin();
        this.offlineZone(z);
        return undefined;
      }
    }
    return this.reject(Status.INVALID_FIELD, op, z, this.zoneStart(z), `unknown zone command ${String(cmd)}`);
  }

  /** Success with nothing changed. */
  private done(): undefined {
    this.begin();
    return undefined;
  }

  private finishZone(z: number): void {
    this.touch(z);
    this.moveTo(z, FULL);
    this.finishes[z]!++;
  }

  private resetZone(z: number): void {
    this.touch(z);
    this.moveTo(z, EMPTY);
    this.wp[z] = z * this.zoneLbas;
    this.attrs[z]! &= ~RESET_CLEARS;
    this.flags[z] = 0;
    this.ext.delete(z);
    this.resets[z]!++;
  }

  private offlineZone(z: number): void {
    this.touch(z);
    this.moveTo(z, OFFLINE);
    this.attrs[z] = 0;
    this.flags[z] = 0;
    this.ext.delete(z);
  }

  private manageAll(cmd: ZoneCommand): Rejection | undefined {
    const op = `zone ${cmd} (select all)`;
    if (!this.geometry.zoned) {
      return this.reject(Status.INVALID_OPCODE, op, -1, 0, 'the namespace is not zoned');
    }
    const n = this.nrZones;
    switch (cmd) {
      case 'open': {
        // Closed → Explicitly Opened, all or nothing.
        const targets: number[] = [];
        for (let z = this.convZones; z < n; z++) if (this.state[z] === CLOSED) targets.push(z);
        const limited = targets.filter((z) => this.limited(z)).length;
        if (this.maxOpen !== 0 && limited > 0) {
          const free = this.maxOpen - this.nrOpen;
          const closable = this.autoTransition ? this.stateCount[IOPEN]! : 0;
          if (limited > free + closable) {
            return this.reject(Status.TOO_MANY_OPEN, op, -1, 0,
              `opening ${limited} closed zones needs ${limited} open resources; ${free} free` +
              (closable ? ` and ${closable} implicitly opened zones to close` : ''));
          }
        }
        this.begin();
        for (const z of targets) {
          this.makeRoomToOpen(z);
          this.touch(z);
          this.moveTo(z, EOPEN);
        }
        return undefined;
      }
      case 'close':
        this.begin();
        for (let z = this.convZones; z < n; z++) {
          const s = this.state[z];
          if (s === IOPEN || s === EOPEN) {
            this.touch(z);
            this.moveTo(z, CLOSED);
          }
        }
        return undefined;
      case 'finish':
        this.begin();
        for (let z = this.convZones; z < n; z++) {
          const s = this.state[z];
          if (s === IOPEN || s === EOPEN || s === CLOSED) this.finishZone(z);
        }
        return undefined;
      case 'reset':
        this.begin();
        for (let z = this.convZones; z < n; z++) {
          const s = this.state[z];
          if (s === IOPEN || s === EOPEN || s === CLOSED || s === FULL) this.resetZone(z);
        }
        return undefined;
      case 'offline':
        this.begin();
        for (let z = this.convZones; z < n; z++) if (this.state[z] === READ_ONLY) this.offlineZone(z);
        return undefined;
    }
    return this.reject(Status.INVALID_FIELD, op, -1, 0, `unknown zone command ${String(cmd)}`);
  }

  /**
   * Set Zone Descriptor Extension: only from Empty, which then becomes Closed with ZDEV set and
   * takes an active resource. `data` shorter than the extension size is zero-padded.
   */
  setDescriptorExtension(z: number | 'all', data: Uint8Array): Rejection | undefined {
    const op = 'set zone descriptor extension';
    const size = this.geometry.descrExtSize;
    if (z === 'all') return this.reject(Status.INVALID_FIELD, op, -1, 0, 'select all is not allowed');
    const bad = this.targetRejection(z, op);
    if (bad) return bad;
    const zslba = this.zoneStart(z);
    if (size === 0) return this.reject(Status.INVALID_FIELD, op, z, zslba, 'the namespace has no descriptor extensions');
    if (data.length > size) {
      return this.reject(Status.INVALID_FIELD, op, z, zslba, `extension data is ${data.length} bytes; the size is ${size}`);
    }
    if (this.state[z] !== EMPTY) return this.transitionRejection(z, op);
    if (this.limited(z) && this.maxActive !== 0 && this.nrActive + 1 > this.maxActive) {
      return this.reject(Status.TOO_MANY_ACTIVE, op, z, zslba,
        `zone ${z} needs an active resource; ${this.nrActive} of ${this.maxActive} in use`);
    }
    this.begin();
    this.touch(z);
    const copy = new Uint8Array(size);
    copy.set(data);
    this.ext.set(z, copy);
    this.attrs[z]! |= ZoneAttr.ZDEV;
    this.moveTo(z, CLOSED);
    return undefined;
  }

  // ---------------------------------------------------------------------------------------------
  // Fault injection (null_blk style) and attributes

  /**
   * Make a zone Read Only or Offline from any state. An active zone is finished first, which
   * releases its resources. Offline on a Read Only zone is the spec's Offline action.
   */
  injectFault(kind: FaultCommand, z: number): Rejection | undefined {
    const op = `inject ${kind}`;
    const bad = this.targetRejection(z, op);
    if (bad) return bad;
    const target = kind === 'readonly' ? READ_ONLY : OFFLINE;
    this.begin();
    if (this.state[z] === target) return undefined;
    this.touch(z);
    if (isActive(this.state[z]!)) this.moveTo(z, FULL);
    if (target === OFFLINE) this.offlineZone(z);
    else this.moveTo(z, READ_ONLY);
    return undefined;
  }

  /**
   * Bring a Read Only or Offline zone back as Empty (its data discarded), as null_blk does when
   * the same condition is injected again. Only a test harness does this; a real drive cannot.
   */
  clearFault(z: number): Rejection | undefined {
    const op = 'clear fault';
    const bad = this.targetRejection(z, op);
    if (bad) return bad;
    const s = this.state[z];
    if (s !== READ_ONLY && s !== OFFLINE) return this.transitionRejection(z, op);
    this.begin();
    this.resetZone(z);
    return undefined;
  }

  /** Set or clear the Reset/Finish Zone Recommended attributes of a sequential zone. */
  setRecommendation(z: number, attr: ZoneAttr.RZR | ZoneAttr.FZR, on: boolean): Rejection | undefined {
    const bad = this.targetRejection(z, 'set zone attribute');
    if (bad) return bad;
    this.begin();
    this.touch(z);
    if (on) this.attrs[z]! |= attr;
    else this.attrs[z]! &= ~attr;
    return undefined;
  }

  // ---------------------------------------------------------------------------------------------
  // Power

  /**
   * The start-up transition of PRODUCT.md §6 (ZNS §2.1.1.3), applied at power-up and by a
   * shutdown: open zones become Closed, or Empty when nothing was written and no extension is
   * set. Full, Closed, Read Only and Offline stay as they were: the product contract keeps a
   * Closed zone Closed even when it is empty (the spec would make it Empty).
   */
  powerCycleTransition(): number[] {
    this.begin();
    this.closeOpenZones();
    return this.lastChanges();
  }

  /** Open zones → Closed, or Empty when nothing was written and no extension is set. */
  private closeOpenZones(): void {
    for (let z = this.convZones; z < this.nrZones; z++) {
      const s = this.state[z]!;
      if (s !== IOPEN && s !== EOPEN) continue;
      // A zone holding a ZRWA stays Closed, like one with an extension: its allocation (and any
      // window data) is host-visible state that a power cycle keeps.
      const empty = this.wp[z] === z * this.zoneLbas && (this.attrs[z]! & (ZoneAttr.ZDEV | ZoneAttr.ZRWAV)) === 0;
      this.touch(z);
      this.moveTo(z, empty ? EMPTY : CLOSED);
    }
  }

  /**
   * Power loss with a volatile write cache: every write above a zone's durable write pointer
   * never reached the media. Zones roll back to `durableWp[z]` (a Full zone that was filled by
   * those writes becomes Closed again; one rolled back to its start without an extension becomes
   * Empty), then the start-up transition applies. If the rollback leaves more active zones than
   * the limit, the controller finishes the excess (highest zones first) and marks them ZFC
   * (Zone Finished by Controller), as ZNS allows.
   */
  powerLoss(durableWp: ArrayLike<number>, durableZrwaEnd?: ArrayLike<number>): number[] {
    this.begin();
    for (let z = this.convZones; z < this.nrZones; z++) {
      const s = this.state[z]!;
      if (s === EMPTY || s === READ_ONLY || s === OFFLINE) continue;
      const dw = durableWp[z]!;
      const zslba = z * this.zoneLbas;
      // ZRWA zones (durableZrwaEnd[z] ≥ 0: the zone held a ZRWA at the last flush) also lose
      // window LBAs written since then; an implicit flush is part of the write that caused it.
      const dz = durableZrwaEnd && this.zrwaEnd.length ? durableZrwaEnd[z]! : -1;
      const hadZrwa = (this.attrs[z]! & ZoneAttr.ZRWAV) !== 0;
      const lostWindow = hadZrwa && dz >= 0 && dz < this.zrwaEnd[z]!;
      if (dw < zslba || (!(dw < this.wp[z]!) && !lostWindow)) continue;
      this.touch(z);
      this.wp[z] = Math.min(dw, this.wp[z]!);
      if (s === FULL) this.moveTo(z, CLOSED);
      // A zone that an unflushed implicit flush filled gets its ZRWA back, if one is free.
      if (!hadZrwa && dz >= 0 && s === FULL && this.zrwaFree > 0) this.setZrwa(z, true);
      if ((this.attrs[z]! & ZoneAttr.ZRWAV) !== 0) this.zrwaEnd[z] = Math.max(this.wp[z]!, dz);
      if (this.state[z] === CLOSED && this.wp[z] === zslba && (this.attrs[z]! & (ZoneAttr.ZDEV | ZoneAttr.ZRWAV)) === 0) {
        this.moveTo(z, EMPTY);
      }
    }
    this.closeOpenZones();
    for (let z = this.nrZones - 1; z >= this.convZones && this.maxActive !== 0 && this.nrActive > this.maxActive; z--) {
      if (this.state[z] !== CLOSED || !this.limited(z)) continue;
      this.touch(z);
      this.moveTo(z, FULL);
      this.attrs[z]! |= ZoneAttr.ZFC;
    }
    return this.lastChanges();
  }

  // ---------------------------------------------------------------------------------------------
  // Report

  describe(z: number): ZoneDescriptor {
    const d = this.describeInto(z, {} as ZoneDescriptor);
    const ext = this.ext.get(z);
    if (ext) d.ext = ext.slice();
    return d;
  }

  /**
   * Fill `d` with zone z (without extension data): lets a 100k-zone report reuse one object
   * instead of allocating one per zone.
   */
  describeInto(z: number, d: ZoneDescriptor): ZoneDescriptor {
    d.zone = z;
    d.type = this.typeOf(z);
    d.state = this.state[z] as ZoneState;
    d.zslba = z * this.zoneLbas;
    d.zsze = this.zoneLbas;
    d.zcap = z < this.convZones ? this.zoneLbas : this.capLbas;
    d.wp = this.wp[z]!;
    d.attrs = this.attrs[z]!;
    d.attrsInfo = 0;
    d.zrwaEnd = this.zrwaEndOf(z);
    d.nonSeq = (this.flags[z]! & ZoneFlag.NON_SEQ) !== 0;
    d.resets = this.resets[z]!;
    d.finishes = this.finishes[z]!;
    d.lbasWritten = this.written[z]!;
    delete d.ext;
    return d;
  }

  private matches(z: number, filter: ReportFilter): boolean {
    const s = this.state[z];
    switch (filter) {
      case 'all': return true;
      case 'empty': return s === EMPTY;
      case 'implicit-open': return s === IOPEN;
      case 'explicit-open': return s === EOPEN;
      case 'closed': return s === CLOSED;
      case 'full': return s === FULL;
      case 'read-only': return s === READ_ONLY;
      case 'offline': return s === OFFLINE;
      case 'attributes': return (this.attrs[z]! & (ZoneAttr.RZR | ZoneAttr.FZR | ZoneAttr.ZFC)) !== 0;
      case 'not-wp': return s === NOT_WP;
    }
    return false;
  }

  /**
   * Zone Management Receive: descriptors of matching zones from the zone holding `slba`, in
   * ascending order, at most `max`. nrZones counts every matching zone to the end of the
   * namespace, or with `partial` only those returned. Cost: O(zones scanned).
   */
  report(opts: ReportOptions = {}): Rejection | ZoneReport {
    const { slba = 0, filter = 'all', max = Infinity, partial = false } = opts;
    if (!this.geometry.zoned) {
      return this.reject(Status.INVALID_OPCODE, 'zone report', -1, slba, 'the namespace is not zoned');
    }
    if (!Number.isSafeInteger(slba) || slba < 0 || slba >= this.nlba) {
      return this.reject(Status.LBA_OUT_OF_RANGE, 'zone report', -1, slba, `LBA ${slba} is outside the namespace`);
    }
    if (!REPORT_FILTERS.includes(filter)) {
      return this.reject(Status.INVALID_FIELD, 'zone report', -1, slba, `unknown report filter ${String(filter)}`);
    }
    if (!(max >= 0)) return this.reject(Status.INVALID_FIELD, 'zone report', -1, slba, `invalid zone count ${max}`);
    const zones: ZoneDescriptor[] = [];
    let count = 0;
    for (let z = this.zoneOf(slba); z < this.nrZones; z++) {
      if (filter !== 'all' && !this.matches(z, filter)) continue;
      if (zones.length < max) zones.push(this.describe(z));
      else if (partial) break;
      count++;
    }
    return { nrZones: partial ? zones.length : count, zones };
  }

  // ---------------------------------------------------------------------------------------------
  // Loading persisted state

  /**
   * Restore one zone from persisted fields. Call finishLoad() once all zones are loaded. The
   * values are validated so that a damaged record cannot produce an impossible state.
   */
  loadZone(
    z: number,
    rec: {
      state: number; wp: number; attrs: number; flags: number; resets: number; finishes: number; lbasWritten: number;
      ext?: Uint8Array | undefined;
      /** ZRWA zones: one past the highest LBA written in the window (absolute); default wp. */
      zrwaEnd?: number | undefined;
      /** Device time the zone's timed stay began (Full or active); -1 or absent: now. */
      timerSince?: number | undefined;
    },
  ): void {
    if (!(z >= 0 && z < this.nrZones)) throw new ZoneLoadError(z, 'index', 'no such zone');
    const conv = z < this.convZones;
    const zslba = z * this.zoneLbas;
    const s = rec.state;
    if (!isValidStoredState(s) || conv !== (s === NOT_WP)) {
      throw new ZoneLoadError(z, 'state', `state 0x${s.toString(16)} is not valid for a ${conv ? 'conventional' : 'sequential'} zone`);
    }
    if (!conv) {
      const wp = rec.wp;
      if (!Number.isSafeInteger(wp) || wp < zslba || wp > zslba + this.capLbas) {
        throw new ZoneLoadError(z, 'wp', `write pointer ${wp} is outside the zone (LBAs ${zslba}..${zslba + this.capLbas})`);
      }
      if (s === EMPTY && wp !== zslba) {
        throw new ZoneLoadError(z, 'wp', `an empty zone has its write pointer at ${wp}, not at its start ${zslba}`);
      }
      if (wp === zslba + this.capLbas && (s === IOPEN || s === EOPEN || s === CLOSED)) {
        throw new ZoneLoadError(z, 'wp', `an ${stateLabel(s)} zone has its write pointer at its capacity`);
      }
    }
    if ((rec.attrs & ZoneAttr.ZRWAV) !== 0) {
      if (this.zrwaLbas === 0) throw new ZoneLoadError(z, 'attrs', 'ZRWAV is set but the namespace has no ZRWA support');
      if (conv || !isActive(s)) throw new ZoneLoadError(z, 'attrs', `ZRWAV is set but the zone is ${stateLabel(s)}`);
      const end = rec.zrwaEnd ?? rec.wp;
      const last = Math.min(rec.wp + this.zrwaLbas, zslba + this.capLbas);
      if (!Number.isSafeInteger(end) || end < rec.wp || end > last) {
        throw new ZoneLoadError(z, 'zrwa', `the ZRWA data ends at LBA ${end}, outside the window (LBAs ${rec.wp}..${last})`);
      }
    }
    if ((rec.attrs & ZoneAttr.ZDEV) !== 0) {
      // The extension association ends when a zone becomes Empty or Offline (ZNS §2.1.1), and a
      // conventional zone never has one.
      if (conv || s === EMPTY || s === OFFLINE) {
        throw new ZoneLoadError(z, 'attrs', `ZDEV is set but the zone is ${stateLabel(s)}`);
      }
      if (!rec.ext) throw new ZoneLoadError(z, 'attrs', 'ZDEV is set but there is no extension data');
      const size = this.geometry.descrExtSize;
      if (size === 0 || rec.ext.length !== size) {
        throw new ZoneLoadError(z, 'ext', `the extension data is ${rec.ext.length} bytes but the descriptor extension size is ${size}`);
      }
    }
    this.stateCount[this.state[z]!]!--;
    this.stateCount[s]!++;
    this.state[z] = s;
    this.wp[z] = conv ? zslba : rec.wp;
    this.attrs[z] = rec.attrs;
    this.flags[z] = rec.flags;
    this.resets[z] = rec.resets;
    this.finishes[z] = rec.finishes;
    this.written[z] = rec.lbasWritten;
    if (rec.ext && (rec.attrs & ZoneAttr.ZDEV) !== 0) this.ext.set(z, rec.ext);
    else this.ext.delete(z);
    if (this.zrwaEnd.length) this.zrwaEnd[z] = (rec.attrs & ZoneAttr.ZRWAV) !== 0 ? rec.zrwaEnd ?? rec.wp : rec.wp;
    const since = rec.timerSince !== undefined && rec.timerSince >= 0 ? rec.timerSince : this.clock();
    // Only the start times here: finishLoad() links the timer lists in time order.
    if (this.fullTimer.key.length) this.fullTimer.key[z] = -1;
    if (this.activeTimer.key.length) this.activeTimer.key[z] = -1;
    if (this.rrlMs !== 0 && s === FULL && (rec.attrs & ZoneAttr.RZR) === 0) this.fullTimer.key[z] = since;
    if (this.frlMs !== 0 && isActive(s) && (rec.attrs & ZoneAttr.FZR) === 0) this.activeTimer.key[z] = since;
  }

  /** Rebuild resource counts and the implicit-open FIFO after loadZone(); check the limits. */
  finishLoad(): void {
    this.nrOpen = 0;
    this.nrActive = 0;
    this.implicitOpen.clear();
    let zrwa = 0;
    const full: number[] = [];
    const active: number[] = [];
    for (let z = this.convZones; z < this.nrZones; z++) {
      if ((this.attrs[z]! & ZoneAttr.ZRWAV) !== 0) zrwa++;
      if (this.fullTimer.key.length && this.fullTimer.key[z]! >= 0) full.push(z);
      if (this.activeTimer.key.length && this.activeTimer.key[z]! >= 0) active.push(z);
      if (!this.limited(z)) continue;
      const s = this.state[z]!;
      if (s === IOPEN || s === EOPEN) this.nrOpen++;
      if (isActive(s)) this.nrActive++;
      if (s === IOPEN) this.implicitOpen.push(z, ++this.ioCounter);
    }
    relinkSorted(this.fullTimer, full);
    relinkSorted(this.activeTimer, active);
    this.zrwaFree = this.numZrwa - zrwa;
    this.begin();
    if (zrwa > this.numZrwa) {
      throw new ZoneLoadError(-1, 'zrwa', `${zrwa} zones hold a ZRWA but the namespace has ${this.numZrwa} ZRWA resources`);
    }
    if (this.maxActive !== 0 && this.nrActive > this.maxActive) {
      throw new ZoneLoadError(-1, 'active', `${this.nrActive} zones are active but the limit is ${this.maxActive}`);
    }
    // More open zones than the limit is not refused: a crash between the two record writes of
    // an implicit close leaves one extra, and the power-up transition closes every open zone.
  }

  /** Open zones above the open limit (only after loading records a crash left behind). */
  get openExcess(): number {
    return this.maxOpen !== 0 ? Math.max(0, this.nrOpen - this.maxOpen) : 0;
  }
}

/** Put a reverted zone back in a timer list at its old place (or out of it). */
function restoreTimer(list: OrderedZoneList, z: number, since: number): void {
  if (!list.key.length) return;
  if (since >= 0) list.insertSorted(z, since);
  else list.remove(z);
}

/** Link loaded zones (whose `since` is set but which are not linked yet) in time order. */
function relinkSorted(list: OrderedZoneList, zones: number[]): void {
  if (!list.key.length) return;
  const times = new Map(zones.map((z) => [z, list.key[z]!]));
  zones.sort((a, b) => times.get(a)! - times.get(b)! || a - b);
  list.clear();
  for (const z of zones) list.push(z, times.get(z)!);
}

export function isRejection(r: unknown): r is Rejection {
  return typeof r === 'object' && r !== null && 'status' in r && 'detail' in r;
}

function stateLabel(s: number): string {
  switch (s) {
    case NOT_WP: return 'conventional';
    case EMPTY: return 'Empty';
    case IOPEN: return 'Implicitly Opened';
    case EOPEN: return 'Explicitly Opened';
    case CLOSED: return 'Closed';
    case READ_ONLY: return 'Read Only';
    case FULL: return 'Full';
    case OFFLINE: return 'Offline';
  }
  return `0x${s.toString(16)}`;
}

export { stateLabel };
