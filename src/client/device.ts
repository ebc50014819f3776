/**
 * The programmatic interface to a zoned namespace, for FTL prototypes and tests: the same API
 * over a mounted zonefuse namespace (through its files) and over a store opened in-process
 * (the engine and store without FUSE). LBAs throughout; data lengths are whole LBAs.
 */
import type { ReportFilter } from '../engine/namespace.js';
import type { JsonZone } from '../format/report.js';
import { ZoneEvent, parseEvent } from '../format/events.js';

export type { ReportFilter, ZoneEvent };

/** One zone as reported: LBAs, and `wp` null where the write pointer is not valid. */
export type ZoneInfo = JsonZone;

export interface DeviceInfo {
  name: string;
  zoned: boolean;
  /** 'host-managed' (sequential write required), 'host-aware' (preferred), or 'none'. */
  model: 'host-managed' | 'host-aware' | 'none';
  lbaSize: number;
  capacityLbas: number;
  zoneSizeLbas: number;
  zoneCapacityLbas: number;
  zoneCount: number;
  conventionalZones: number;
  /** 0 = unlimited. */
  maxOpen: number;
  /** 0 = unlimited. */
  maxActive: number;
  /** Largest zone append in LBAs; 0 = no limit beyond the transfer size. */
  appendLimitLbas: number;
  /** Zone Random Write Area size and flush granularity in LBAs (0 = no ZRWA support). */
  zrwaSizeLbas: number;
  zrwaFlushGranularityLbas: number;
  /** Zones that may hold a ZRWA at once. */
  zrwaResources: number;
  /** Reset / Finish Recommended Limits in seconds (0 = off). */
  resetRecommendedLimit: number;
  finishRecommendedLimit: number;
}

export interface OpenOptions {
  /** Allocate a Zone Random Write Area (Open Zone with ZRWAA). */
  zrwa?: boolean;
}

/** Events read so far and where to continue (a byte offset into the events log). */
export interface EventPoll {
  events: ZoneEvent[];
  cursor: number;
}

export interface WaitOptions {
  /** Give up after this long (default 30 s): the promise rejects. */
  timeoutMs?: number;
  /** Consider events from this cursor on (default: only events that happen after the call). */
  cursor?: number;
  /** How often to look (default 50 ms). */
  intervalMs?: number;
}

export interface PowerCycleOptions {
  /** Loss policy of a power loss: 'none' | 'all' | `prefix:${number}`. */
  keep?: string;
}

export interface BadRangeSpec {
  start: number;
  count: number;
  kind: 'read' | 'write' | 'rw';
  once?: boolean;
  partial?: boolean;
}

export interface ZonedDevice {
  info(): DeviceInfo;
  /** Zones from the one holding `fromLba`, at most `max`, optionally only those in `filter`. */
  report(fromLba?: number, max?: number, filter?: ReportFilter): ZoneInfo[];
  open(zone: number | 'all', opts?: OpenOptions): void;
  close(zone: number | 'all'): void;
  finish(zone: number | 'all'): void;
  reset(zone: number | 'all'): void;
  /** `length` bytes from `lba`; zeros above write pointers. */
  read(lba: number, length: number): Buffer;
  /** Write whole LBAs at `lba` (a sequential zone's write pointer). */
  write(lba: number, data: Uint8Array): void;
  /** Zone append: returns the LBA where the data landed. */
  append(zone: number, data: Uint8Array): number;
  /** Make everything written durable. */
  flush(): void;
  /** ZRWA Flush: commit the zone's window up to and including `lba` (absolute, or zone-relative). */
  zrwaFlush(zone: number, lba: number): void;

  // The device acting on its own
  /** Zone active excursion: the device finishes active zone `zone` by itself (ZFC). */
  excursion(zone: number): void;
  /** Move the device clock forward; expired Reset/Finish Recommended Limits apply at once. */
  advanceClock(seconds: number): void;
  /** The device's own zone changes after `cursor` (0 = all of them), and the cursor to go on from. */
  pollEvents(cursor?: number): EventPoll;
  /** The first event from now on (or from `opts.cursor`) that `match` accepts. */
  waitForEvent(match?: (e: ZoneEvent) => boolean, opts?: WaitOptions): Promise<ZoneEvent>;

  // Power and faults
  setVolatileCache(on: boolean): void;
  /**
   * 'power-loss': with the volatile cache on, unflushed writes are lost, or what `keep` keeps:
   * 'none' (default), 'all', or 'prefix:SEED' (see PRODUCT.md §13).
   */
  powerCycle(kind?: 'power-loss' | 'shutdown', opts?: PowerCycleOptions): void;
  injectZoneFault(kind: 'readonly' | 'offline', zone: number): void;
  addBadRange(range: BadRangeSpec): void;
  setRandomFaults(seed: number, writeOneIn: number, readOneIn?: number): void;
  recommend(which: 'reset' | 'finish', zone: number, on?: boolean): void;
  clearFaults(): void;
  /** Every injected fault, as ctl command lines. */
  listFaults(): string[];

  /** Release the device (files, the store's lock). `close` is the zone command. */
  dispose(): void;
}

/** Complete lines of an events log read from byte `from` (`bytes`): the events and the new cursor. */
export function eventsFrom(bytes: Buffer, from: number): EventPoll {
  const end = bytes.lastIndexOf(0x0a) + 1;
  const events: ZoneEvent[] = [];
  for (const line of bytes.toString('utf8', 0, end).split('\n')) {
    const e = line ? parseEvent(line) : undefined;
    if (e) events.push(e);
  }
  return { events, cursor: from + end };
}

/** waitForEvent over a poll function: both backends poll (a FUSE file cannot be watched). */
export async function waitForEventBy(
  poll: (cursor: number) => EventPoll, match: (e: ZoneEvent) => boolean, opts: WaitOptions,
): Promise<ZoneEvent> {
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  let cursor = opts.cursor ?? poll(Number.MAX_SAFE_INTEGER).cursor;
  for (;;) {
    const r = poll(cursor);
    const hit = r.events.find(match);
    if (hit) return hit;
    cursor = r.cursor;
    if (Date.now() >= deadline) throw new Error(`no matching device event within ${opts.timeoutMs ?? 30_000} ms`);
    await new Promise((resolve) => setTimeout(resolve, opts.intervalMs ?? 50));
  }
}

/** The ctl line for a bad range. */
export function badRangeCommand(r: BadRangeSpec): string {
  return `fault ${r.kind} ${r.start} ${r.count}${r.once ? ' once' : ''}${r.partial ? ' partial' : ''}`;
}
