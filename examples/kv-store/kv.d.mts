// Types for kv.mjs, for TypeScript users of the example (and its test).
import type { ZonedDevice } from 'zonefuse';

export interface IndexEntry { lba: number; lbas: number; seq: number; tomb: boolean }
export interface ZoneUse {
  zone: number; start: number; cap: number; used: number; live: number; keys: Set<string>; lastSeq: number;
  state: 'empty' | 'head' | 'sealed' | 'readonly' | 'partial';
}
export interface KvRecord { lba: number; lbas: number; seq: number; key: string; value: Buffer | null }

export function encodeRecord(lbaSize: number, seq: number, key: Buffer, value: Buffer | null): Buffer;
export function parseRecords(data: Buffer, startLba: number, lbaSize: number): { records: KvRecord[]; used: number; stop: string | null };

export class ZonedKV {
  static open(device: ZonedDevice, opts?: { reserveZones?: number; syncPuts?: boolean; buggyAckBeforeFlush?: boolean }): ZonedKV;
  readonly syncPuts: boolean;
  readonly buggyAckBeforeFlush: boolean;
  readonly dev: ZonedDevice;
  readonly index: Map<string, IndexEntry>;
  readonly zones: Map<number, ZoneUse>;
  readonly head: ZoneUse | null;
  readonly maxRecordLbas: number;
  readonly gcActive: boolean;
  readonly counters: { recovered: number; torn: number; gcRuns: number; gcCopiedLbas: number; tombstonesDropped: number };
  get(key: string): Buffer | undefined;
  has(key: string): boolean;
  keys(): IterableIterator<string>;
  put(key: string, value: string | Uint8Array): void;
  delete(key: string): boolean;
  flush(): void;
  gc(): void;
  stats(): { keys: number; empty: number; sealed: number; head: number | null; liveLbas: number; usedLbas: number } & ZonedKV["counters"];
}
