/**
 * The controller's zone timers (ZNS §2.1.1.5, Reset/Finish Recommended Limits): a zone that has
 * been Full for RRL, or active for FRL, gets the Reset / Finish Zone Recommended attribute.
 *
 * Each timer is an OrderedZoneList (zone-list.ts) keyed by the device time at which the zone
 * started its stay (Full, or active). The device clock never runs backwards, so a zone that
 * starts a stay always goes to the tail and the list stays sorted: starting, ending and expiring
 * a stay are O(1), and finding what is due only looks at the heads. This module holds what the
 * timers report.
 */

/** A change the device made on its own, as the events file reports it. */
export interface DeviceEvent {
  /** Device time, ms since the epoch. */
  time: number;
  zone: number;
  fromState: number;
  toState: number;
  fromAttrs: number;
  toAttrs: number;
  reason: DeviceEventReason;
  /** The limit that expired, in seconds (RRL / FRL events). */
  limit?: number;
}

export type DeviceEventReason = 'reset-recommended-limit' | 'finish-recommended-limit' | 'zone-active-excursion';
