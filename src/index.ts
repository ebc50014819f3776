/**
 * zonefuse as a library.
 *
 *   import { openDevice } from 'zonefuse';
 *   const dev = openDevice('/mnt/zns/nvme0n1');      // a mounted namespace
 *   const dev2 = openDevice('/path/to/store', { inProcess: true }); // no FUSE
 *
 * Both return a ZonedDevice; errors the device reports are ZoneErrors carrying the NVMe status.
 * The engine (a pure zone state machine) and the store are exported for embedding.
 */
import * as fs from 'node:fs';
import { LocalDevice } from './client/local.js';
import { MountedDevice } from './client/mounted.js';
import type { ZonedDevice } from './client/device.js';
import { findMount } from './fuse/mounts.js';

export type {
  ZonedDevice, DeviceInfo, ZoneInfo, BadRangeSpec, ReportFilter, PowerCycleOptions, OpenOptions, EventPoll, WaitOptions, ZoneEvent,
} from './client/device.js';
export { parseEvent, formatEvent } from './format/events.js';
export { LocalDevice } from './client/local.js';
export { MountedDevice, DeviceError } from './client/mounted.js';
export * from './engine/index.js';
export { Store, createNamespace, listNamespaces } from './store/store.js';
export { StoredNamespace } from './store/stored-namespace.js';
export { serveStore } from './fuse/serve-store.js';
export type { ServeOptions, ServedStore } from './fuse/serve-store.js';
export { BACKEND_NAMES } from './fuse/backend.js';
export type { BackendName } from './fuse/backend.js';
export {
  decodeZonesBin, decodeZonesBinHeader, decodeZoneRecord, ZonesBinError, ZoneRecordFlag, ZonesBinFlag, zonesBinSize,
  generationEpoch, generationCount, ZONES_BIN_HEADER_SIZE, ZONES_BIN_RECORD_SIZE, type ZonesBinHeader, type ZoneRecord,
} from './format/zones-bin.js';
export { decodeChangesBin, runsSince, type ChangesBin, type ChangesBinHeader, type ZoneRun } from './format/changes-bin.js';
export { ZoneTable, ZoneTableReader, type ZoneReadStats } from './client/zone-table.js';

export interface OpenDeviceOptions {
  /** Open a store directory in-process (engine + store, no FUSE) instead of a mounted namespace. */
  inProcess?: boolean;
  /** Namespace name, for an in-process store with several. */
  ns?: string;
}

/**
 * A mounted namespace file (or a mount with one zoned namespace), or with `inProcess` a store
 * directory opened without FUSE (it must not be mounted: the store has one owner at a time).
 */
export function openDevice(target: string, opts: OpenDeviceOptions = {}): ZonedDevice {
  if (opts.inProcess) return LocalDevice.open(target, opts.ns === undefined ? {} : { ns: opts.ns });
  if (fs.statSync(target).isDirectory() && !findMount(target) && fs.existsSync(`${target}/.zonefuse.lock`)) {
    throw new Error(`${target} is a store directory: mount it, or pass { inProcess: true }`);
  }
  return MountedDevice.open(target);
}
