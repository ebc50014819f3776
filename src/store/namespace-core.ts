/**
 * The parts of one open namespace that the store's modules share: the engine, the open files and
 * the state kept beside the engine (durable write pointers, pending punches, injected faults).
 * StoredNamespace is the public face; the modules (write path, zone management, media faults,
 * power, recovery) are functions over this.
 */
import { ZonedNamespace } from '../engine/namespace.js';
import { Logger } from '../log.js';
import { FaultTable } from './faults.js';
import { FailureReporter } from './backing-error.js';
import { Sidecar } from './sidecar.js';
import { SpaceReclaimer } from './space-reclaim.js';
import { VolatileCache } from './volatile-cache.js';
import { EventLog } from './event-log.js';
import type { TraceRecorder } from './trace.js';

export interface NamespaceCore {
  readonly name: string;
  readonly engine: ZonedNamespace;
  readonly lbaSize: number;
  readonly capacity: number;
  /** Zone size in bytes (0 when not zoned). */
  readonly zoneBytes: number;
  readonly dataPath: string;
  readonly dataFd: number;
  readonly sidecar: Sidecar;
  readonly cache: VolatileCache;
  readonly reclaimer: SpaceReclaimer;
  readonly faults: FaultTable;
  /** Backing file-system failures that no caller is waiting for. */
  readonly failures: FailureReporter;
  readonly log: Logger;
  /** The device clock (ms since the epoch), the one the engine's timers run on. */
  readonly clock: () => number;
  /** The device's own zone changes (`<name>.events`). */
  readonly events: EventLog;
  /** Set while `mount --trace` records this namespace's operations (crashtest); else undefined. */
  trace: TraceRecorder | undefined;
}
