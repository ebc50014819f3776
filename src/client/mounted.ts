/**
 * The mounted backend: a namespace served by a running `zonefuse mount`, driven through its
 * files exactly as any program would (namespace file, zone files with O_APPEND, ctl, info,
 * report.json, errors). Use it from a process other than the daemon.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { NvmeStatus, Rejection, Status, ZoneError } from '../engine/status.js';
import { currentPosition } from '../native/libc.js';
import {
  BadRangeSpec, DeviceInfo, EventPoll, OpenOptions, PowerCycleOptions, ReportFilter, WaitOptions, ZoneEvent, ZoneInfo, ZonedDevice,
  badRangeCommand, eventsFrom, waitForEventBy,
} from './device.js';
import { formatLossPolicy, parseLossPolicy } from '../engine/loss-policy.js';

const BY_CODE = new Map<number, NvmeStatus>(Object.values(Status).map((s) => [s.code, s]));

const FILTER_STATE: Partial<Record<ReportFilter, string>> = {
  empty: 'EMPTY', 'implicit-open': 'IMP_OPENED', 'explicit-open': 'EXP_OPENED', closed: 'CLOSED',
  full: 'FULL', 'read-only': 'READONLY', offline: 'OFFLINE', 'not-wp': 'NOT_WP',
};

/** An error the file interface returned without an NVMe status (e.g. EINVAL for bad input). */
export class DeviceError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
    this.name = 'DeviceError';
  }
}

export class MountedDevice implements ZonedDevice {
  private readonly zonesDir: string;
  private infoCache: DeviceInfo | undefined;
  private nsFd = -1;
  private readonly appendFds = new Map<number, number>();

  private constructor(readonly nsPath: string, readonly name: string) {
    this.zonesDir = nsPath + '.zones';
  }

  /** `target`: the namespace file in a mount (MNT/nvme0n1), or a mount with one namespace. */
  static open(target: string): MountedDevice {
    const abs = path.resolve(target);
    if (fs.statSync(abs).isDirectory()) {
      const names = fs.readdirSync(abs).filter((n) => n.endsWith('.zones')).map((n) => n.slice(0, -6));
      if (names.length !== 1) throw new Error(`${abs} serves ${names.length} zoned namespaces: name the namespace file (e.g. ${abs}/${names[0] ?? 'nvme0n1'})`);
      return new MountedDevice(path.join(abs, names[0]!), names[0]!);
    }
    if (!fs.existsSync(abs + '.zones')) throw new Error(`${abs} is not a zoned namespace of a zonefuse mount (no ${path.basename(abs)}.zones beside it)`);
    return new MountedDevice(abs, path.basename(abs));
  }

  // ---------------------------------------------------------------------------------------------

  /** Turn an errno from the file interface into a ZoneError (from the `errors` file) or DeviceError. */
  private failure(op: string, e: unknown): Error {
    const code = (e as NodeJS.ErrnoException).code;
    if (!code) return e as Error;
    let line = '';
    try {
      const lines = fs.readFileSync(path.join(this.zonesDir, 'errors'), 'utf8').trimEnd().split('\n');
      line = lines[lines.length - 1] ?? '';
    } catch {
      // no explanation available
    }
    const m = /^\S+ (.*?)(?: zone=(-?\d+))?(?: lba=(\d+))?(?: wp=(\d+))? status=0x([0-9a-f]+) "[^"]*" errno=\w+: (.*)$/.exec(line);
    const status = m ? BY_CODE.get(parseInt(m[5]!, 16)) : undefined;
    if (m && status) {
      const r: Rejection = {
        status, op: m[1] ?? op,
        zone: m[2] ? Number(m[2]) : -1, lba: m[3] ? Number(m[3]) : -1, wp: m[4] ? Number(m[4]) : -1, detail: m[6]!,
      };
      return new ZoneError(r);
    }
    return new DeviceError(code, `${op}: ${code}${line ? ` (${line.replace(/^\S+ /, '')})` : ''}`);
  }

  private ctl(line: string): void {
    try {
      fs.writeFileSync(path.join(this.zonesDir, 'ctl'), line);
    } catch (e) {
      throw this.failure(line, e);
    }
  }

  private fd(): number {
    if (this.nsFd < 0) this.nsFd = fs.openSync(this.nsPath, 'r+');
    return this.nsFd;
  }

  /** After a power cycle every open file of the namespace is gone: reopen lazily. */
  private dropFiles(): void {
    if (this.nsFd >= 0) fs.closeSync(this.nsFd);
    this.nsFd = -1;
    for (const fd of this.appendFds.values()) fs.closeSync(fd);
    this.appendFds.clear();
  }

  // ---------------------------------------------------------------------------------------------

  info(): DeviceInfo {
    if (this.infoCache) return this.infoCache;
    const kv = new Map<string, string>();
    for (const line of fs.readFileSync(path.join(this.zonesDir, 'info'), 'utf8').split('\n')) {
      const i = line.indexOf(': ');
      if (i > 0) kv.set(line.slice(0, i), line.slice(i + 2));
    }
    const num = (k: string): number => Number(kv.get(k) ?? 0);
    const lbaSize = num('lba_size');
    this.infoCache = {
      name: this.name,
      zoned: kv.get('zoned') === 'yes',
      model: (kv.get('zone_model') as DeviceInfo['model'] | undefined) ?? 'none',
      lbaSize,
      capacityLbas: num('capacity_lbas'),
      zoneSizeLbas: num('zone_size_lbas'),
      zoneCapacityLbas: num('zone_capacity_lbas'),
      zoneCount: num('nr_zones'),
      conventionalZones: num('conventional_zones'),
      maxOpen: num('max_open_zones'),
      maxActive: num('max_active_zones'),
      appendLimitLbas: num('zone_append_size_limit') / lbaSize,
      zrwaSizeLbas: num('zrwa_size_lbas'),
      zrwaFlushGranularityLbas: num('zrwa_flush_granularity_lbas'),
      zrwaResources: num('zrwa_resources'),
      resetRecommendedLimit: num('reset_recommended_limit'),
      finishRecommendedLimit: num('finish_recommended_limit'),
    };
    return this.infoCache;
  }

  report(fromLba = 0, max = Infinity, filter: ReportFilter = 'all'): ZoneInfo[] {
    const all = (JSON.parse(fs.readFileSync(path.join(this.zonesDir, 'report.json'), 'utf8')) as { zones: ZoneInfo[] }).zones;
    const first = Math.floor(fromLba / this.info().zoneSizeLbas);
    const want = FILTER_STATE[filter];
    const out: ZoneInfo[] = [];
    for (let z = first; z < all.length && out.length < max; z++) {
      const d = all[z]!;
      if (filter === 'attributes' ? !(d.resetRecommended || d.finishRecommended || (d.attrs & 1) !== 0) : want && d.state !== want) continue;
      out.push(d);
    }
    return out;
  }

  open(zone: number | 'all', opts: OpenOptions = {}): void {
    this.ctl(`open ${zone}${opts.zrwa ? ' zrwa' : ''}`);
  }

  zrwaFlush(zone: number, lba: number): void {
    this.ctl(`zrwa-flush ${zone} ${lba}`);
  }

  excursion(zone: number): void {
    this.ctl(`excursion ${zone}`);
  }

  advanceClock(seconds: number): void {
    this.ctl(`clock +${seconds}`);
  }

  pollEvents(cursor = 0): EventPoll {
    const fd = fs.openSync(path.join(this.zonesDir, 'events'), 'r');
    try {
      const size = fs.fstatSync(fd).size;
      const from = Math.min(cursor, size);
      const buf = Buffer.alloc(size - from);
      let done = 0;
      while (done < buf.length) {
        const n = fs.readSync(fd, buf, done, buf.length - done, from + done);
        if (n === 0) break;
        done += n;
      }
      return eventsFrom(buf.subarray(0, done), from);
    } finally {
      fs.closeSync(fd);
    }
  }

  waitForEvent(match: (e: ZoneEvent) => boolean = () => true, opts: WaitOptions = {}): Promise<ZoneEvent> {
    return waitForEventBy((c) => this.pollEvents(c), match, opts);
  }

  close(zone: number | 'all'): void {
    this.ctl(`close ${zone}`);
  }

  finish(zone: number | 'all'): void {
    this.ctl(`finish ${zone}`);
  }

  reset(zone: number | 'all'): void {
    this.ctl(`reset ${zone}`);
  }

  read(lba: number, length: number): Buffer {
    const buf = Buffer.alloc(length);
    let done = 0;
    try {
      while (done < length) {
        const n = fs.readSync(this.fd(), buf, done, length - done, lba * this.info().lbaSize + done);
        if (n === 0) break;
        done += n;
      }
    } catch (e) {
      throw this.failure('read', e);
    }
    return done === length ? buf : buf.subarray(0, done);
  }

  write(lba: number, data: Uint8Array): void {
    this.wholeLbas('write', data);
    const pos = lba * this.info().lbaSize;
    let done = 0;
    try {
      // A buffered handle: the kernel may split the write in pieces, zonefuse reassembles them.
      while (done < data.length) done += fs.writeSync(this.fd(), data, done, data.length - done, pos + done);
    } catch (e) {
      throw this.failure('write', e);
    }
  }

  append(zone: number, data: Uint8Array): number {
    this.wholeLbas('zone append', data);
    let fd = this.appendFds.get(zone);
    try {
      if (fd === undefined) {
        fd = fs.openSync(path.join(this.zonesDir, String(zone)), fs.constants.O_WRONLY | fs.constants.O_APPEND);
        this.appendFds.set(zone, fd);
      }
      // The kernel appends at the size it saw last: refresh it (the write pointer may have moved
      // through another path), then the offset after the write tells where the data landed.
      fs.fstatSync(fd);
      const n = fs.writeSync(fd, data, 0, data.length);
      if (n !== data.length) throw new DeviceError('EIO', `zone append: ${n} of ${data.length} bytes written`);
      const landed = currentPosition(fd) - n;
      return zone * this.info().zoneSizeLbas + landed / this.info().lbaSize;
    } catch (e) {
      // zonefs answers EFBIG for a write at the capacity: for a zone append that is Zone Is Full.
      if ((e as NodeJS.ErrnoException).code === 'EFBIG') {
        throw new ZoneError({ status: Status.ZONE_FULL, op: 'zone append', zone, lba: -1, wp: -1, detail: `zone ${zone} is full` });
      }
      throw this.failure('zone append', e);
    }
  }

  private wholeLbas(op: string, data: Uint8Array): void {
    const lba = this.info().lbaSize;
    if (data.length === 0 || data.length % lba !== 0) {
      throw new ZoneError({ status: Status.INVALID_FIELD, op, zone: -1, lba: -1, wp: -1, detail: `${data.length} bytes is not a whole number of ${lba}-byte LBAs` });
    }
  }

  flush(): void {
    try {
      fs.fsyncSync(this.fd());
    } catch (e) {
      throw this.failure('flush', e);
    }
  }

  setVolatileCache(on: boolean): void {
    this.ctl(`cache ${on ? 'on' : 'off'}`);
  }

  powerCycle(kind: 'power-loss' | 'shutdown' = 'power-loss', opts: PowerCycleOptions = {}): void {
    const keep = opts.keep === undefined ? '' : ` keep=${formatLossPolicy(parseLossPolicy(opts.keep))}`;
    if (kind === 'shutdown' && keep) throw new RangeError('a shutdown flushes first: keep applies to a power loss only');
    this.ctl(kind === 'shutdown' ? 'shutdown' : `power-cycle${keep}`);
    this.dropFiles();
  }

  injectZoneFault(kind: 'readonly' | 'offline', zone: number): void {
    this.ctl(`${kind} ${zone}`);
  }

  addBadRange(r: BadRangeSpec): void {
    this.ctl(badRangeCommand(r));
  }

  setRandomFaults(seed: number, writeOneIn: number, readOneIn = 0): void {
    this.ctl(`fault random ${seed} ${writeOneIn} ${readOneIn}`);
  }

  recommend(which: 'reset' | 'finish', zone: number, on = true): void {
    this.ctl(`recommend ${which} ${zone}${on ? '' : ' off'}`);
  }

  clearFaults(): void {
    this.ctl('fault clear');
  }

  listFaults(): string[] {
    return fs.readFileSync(path.join(this.zonesDir, 'faults'), 'utf8').split('\n').filter(Boolean);
  }

  dispose(): void {
    this.dropFiles();
  }
}
