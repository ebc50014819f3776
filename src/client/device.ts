/**
 * The programmatic interface to a zoned namespace, for FTL prototypes and tests: the same API
 * over a mounted zonefuse namespace (through its files) and over a store opened in-process
 * (the engine and store without FUSE). LBAs throughout; data lengths are whole LBAs.
 */
import type { ReportFilter } from '../engine/namespace.js';
import type { JsonZone } from '../format/report.js';

export type { ReportFilter };

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
  open(zone: number | 'all'): void;
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

/** The ctl line for a bad range. */
export function badRangeCommand(r: BadRangeSpec): string {
  return `fault ${r.kind} ${r.start} ${r.count}${r.once ? ' once' : ''}${r.partial ? ' partial' : ''}`;
}
