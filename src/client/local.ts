/**
 * The in-process backend: a store opened directly (engine + persistent store, no FUSE), for fast
 * unit tests of an FTL. Holds the store's lock while open.
 */
import { Store } from '../store/store.js';
import { StoredNamespace } from '../store/stored-namespace.js';
import { Rejection, Status, ZoneError } from '../engine/status.js';
import { isRejection } from '../engine/namespace.js';
import { jsonZone } from '../format/report.js';
import {
  BadRangeSpec, DeviceInfo, EventPoll, OpenOptions, PowerCycleOptions, ReportFilter, WaitOptions, ZoneEvent, ZoneInfo, ZonedDevice,
  eventsFrom, waitForEventBy,
} from './device.js';
import { parseLossPolicy } from '../engine/loss-policy.js';
import { Logger } from '../log.js';

function must(r: Rejection | undefined): void {
  if (r) throw new ZoneError(r);
}

function invalid(op: string, detail: string): ZoneError {
  return new ZoneError({ status: Status.INVALID_FIELD, op, zone: -1, lba: -1, wp: -1, detail });
}

export class LocalDevice implements ZonedDevice {
  private constructor(private readonly store: Store, private readonly ns: StoredNamespace) {}

  /** Open namespace `ns` (default: the store's only one) of the store at `dir`. */
  static open(dir: string, opts: { ns?: string; logger?: Logger } = {}): LocalDevice {
    const store = Store.open(dir, { command: 'zonefuse client (in-process)', ...(opts.logger ? { logger: opts.logger } : {}) });
    try {
      const names = [...store.namespaces.keys()];
      const name = opts.ns ?? (names.length === 1 ? names[0] : undefined);
      const ns = name === undefined ? undefined : store.get(name);
      if (!ns) throw new Error(opts.ns ? `store ${dir} has no attached namespace ${opts.ns}` : `store ${dir} has ${names.length} namespaces: choose one with { ns }`);
      return new LocalDevice(store, ns);
    } catch (e) {
      store.close();
      throw e;
    }
  }

  info(): DeviceInfo {
    const e = this.ns.engine;
    const g = e.geometry;
    return {
      name: this.ns.name,
      zoned: g.zoned,
      model: g.zoned ? g.zoneModel : 'none',
      lbaSize: g.lbaSize,
      capacityLbas: e.nlba,
      zoneSizeLbas: e.zoneLbas,
      zoneCapacityLbas: e.capLbas,
      zoneCount: e.nrZones,
      conventionalZones: e.convZones,
      maxOpen: g.maxOpen,
      maxActive: g.maxActive,
      appendLimitLbas: e.zaslLbas,
      zrwaSizeLbas: e.zrwaLbas,
      zrwaFlushGranularityLbas: e.zrwafgLbas,
      zrwaResources: e.numZrwa,
      resetRecommendedLimit: g.rrl,
      finishRecommendedLimit: g.frl,
    };
  }

  report(fromLba = 0, max = Infinity, filter: ReportFilter = 'all'): ZoneInfo[] {
    const r = this.ns.engine.report({ slba: fromLba, max, filter });
    if (isRejection(r)) throw new ZoneError(r);
    return r.zones.map(jsonZone);
  }

  open(zone: number | 'all', opts: OpenOptions = {}): void {
    must(this.ns.manage('open', zone, { zrwa: opts.zrwa === true }));
  }

  zrwaFlush(zone: number, lba: number): void {
    must(this.ns.zrwaFlush(zone, lba));
  }

  excursion(zone: number): void {
    const r = this.ns.excursion(zone);
    if (isRejection(r)) throw new ZoneError(r);
  }

  advanceClock(seconds: number): void {
    this.ns.advanceClock(seconds);
  }

  pollEvents(cursor = 0): EventPoll {
    const log = this.ns.events;
    const from = Math.min(cursor, log.size);
    const buf = Buffer.alloc(log.size - from);
    log.read(from, buf, 0, buf.length);
    return eventsFrom(buf, from);
  }

  waitForEvent(match: (e: ZoneEvent) => boolean = () => true, opts: WaitOptions = {}): Promise<ZoneEvent> {
    return waitForEventBy((c) => {
      this.ns.runTimers();
      return this.pollEvents(c);
    }, match, opts);
  }

  close(zone: number | 'all'): void {
    must(this.ns.manage('close', zone));
  }

  finish(zone: number | 'all'): void {
    must(this.ns.manage('finish', zone));
  }

  reset(zone: number | 'all'): void {
    must(this.ns.manage('reset', zone));
  }

  read(lba: number, length: number): Buffer {
    const buf = Buffer.alloc(length);
    const r = this.ns.read(lba * this.ns.lbaSize, buf, 0, length);
    if (typeof r !== 'number') throw new ZoneError(r);
    return r === length ? buf : buf.subarray(0, r);
  }

  write(lba: number, data: Uint8Array): void {
    this.wholeLbas('write', data);
    const e = this.ns.engine;
    if (!e.zoned || e.isConventional(e.zoneOf(lba))) must(this.ns.writeRandom(lba * this.ns.lbaSize, data, 0, data.length));
    else must(this.ns.write(lba, data, 0, data.length));
  }

  append(zone: number, data: Uint8Array): number {
    this.wholeLbas('zone append', data);
    const r = this.ns.append(zone, data, 0, data.length);
    if (typeof r !== 'number') throw new ZoneError(r);
    return r;
  }

  private wholeLbas(op: string, data: Uint8Array): void {
    if (data.length === 0 || data.length % this.ns.lbaSize !== 0) {
      throw invalid(op, `${data.length} bytes is not a whole number of ${this.ns.lbaSize}-byte LBAs`);
    }
  }

  flush(): void {
    this.ns.flush();
  }

  setVolatileCache(on: boolean): void {
    this.ns.setVolatileCache(on);
  }

  powerCycle(kind: 'power-loss' | 'shutdown' = 'power-loss', opts: PowerCycleOptions = {}): void {
    const keep = opts.keep === undefined ? undefined : parseLossPolicy(opts.keep);
    if (kind === 'shutdown' && keep) throw new RangeError('a shutdown flushes first: keep applies to a power loss only');
    this.ns.powerCycle(kind, keep);
  }

  injectZoneFault(kind: 'readonly' | 'offline', zone: number): void {
    must(this.ns.injectFault(kind, zone));
  }

  addBadRange(r: BadRangeSpec): void {
    this.ns.addBadRange({ start: r.start, count: r.count, read: r.kind !== 'write', write: r.kind !== 'read', once: r.once === true, partial: r.partial === true });
  }

  setRandomFaults(seed: number, writeOneIn: number, readOneIn = 0): void {
    this.ns.setRandomFaults({ seed, writeOneIn, readOneIn });
  }

  recommend(which: 'reset' | 'finish', zone: number, on = true): void {
    must(this.ns.setRecommendation(zone, which, on));
  }

  clearFaults(): void {
    this.ns.clearFaults();
  }

  listFaults(): string[] {
    return this.ns.listFaults();
  }

  dispose(): void {
    this.store.close();
  }
}
