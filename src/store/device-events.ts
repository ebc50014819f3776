/**
 * The controller acting on its own (PRODUCT.md §10): the Reset/Finish Recommended Limit timers,
 * zone active excursions and the device clock that `clock +SECONDS` advances. Every change is
 * persisted in the zone records first, then appended to the events log.
 */
import { DeviceEvent } from '../engine/timers.js';
import { Rejection, isRejection } from '../engine/index.js';
import { formatEvent } from '../format/events.js';
import { commitLastChanges } from './commit.js';
import { NamespaceCore } from './namespace-core.js';

/** How often a mounted namespace with limits looks for expired timers. */
export const TIMER_POLL_MS = 1000;

/**
 * Apply every timer that has expired by now. The attributes are written without making the
 * zones' cached writes durable: a timer firing must not change what a power loss keeps.
 */
export function runDeviceTimers(ns: NamespaceCore): DeviceEvent[] {
  const e = ns.engine;
  if (e.nextDeadline() > ns.clock()) return [];
  const events = e.tick(ns.clock());
  if (events.length === 0) return events;
  commitLastChanges(ns, false, false);
  ns.events.append(events.map(formatEvent));
  ns.log.info({ events: events.length }, 'device timers expired: zone attributes set by the controller');
  return events;
}

/** `excursion N`: the controller finishes active zone N by itself (ZFC). */
export function excursion(ns: NamespaceCore, zone: number): Rejection | DeviceEvent {
  const r = ns.engine.excursion(zone, ns.clock());
  if (isRejection(r)) return r;
  commitLastChanges(ns, false, true);
  ns.events.append([formatEvent(r)]);
  return r;
}

/** `clock +SECONDS`: move the device clock forward (persistent), then run the timers. */
export function advanceClock(ns: NamespaceCore, seconds: number): DeviceEvent[] {
  if (!(Number.isFinite(seconds) && seconds >= 0)) throw new RangeError(`cannot advance the clock by ${seconds} s`);
  const h = ns.sidecar.header;
  h.clockOffset += Math.round(seconds * 1000);
  ns.sidecar.writeHeader();
  return runDeviceTimers(ns);
}
