/**
 * Lines of the `events` control file: one per change the device made on its own (PRODUCT.md
 * §10), oldest first.
 *
 *   2026-12-03T15:00:00.000Z zone 5 FULL -> FULL+RZR (reset recommended limit: Full for 3600 s)
 *   2026-12-03T15:00:02.000Z zone 7 EXP_OPENED+ZRWAV -> FULL+ZFC (zone active excursion: finished by the controller)
 *
 * Fields: device time (ISO 8601, UTC), zone index, old and new state (nvme-cli's names) each
 * followed by the zone attributes that are set, and the reason in parentheses.
 */
import { DeviceEvent } from '../engine/timers.js';
import { ZoneAttr, stateName } from '../engine/zone.js';

const ATTR_NAMES: ReadonlyArray<[number, string]> = [
  [ZoneAttr.ZFC, 'ZFC'], [ZoneAttr.FZR, 'FZR'], [ZoneAttr.RZR, 'RZR'], [ZoneAttr.ZRWAV, 'ZRWAV'], [ZoneAttr.ZDEV, 'ZDEV'],
];

/** "FULL+RZR": a state name and the attributes set. */
export function stateWithAttrs(state: number, attrs: number): string {
  let s = stateName(state);
  for (const [bit, name] of ATTR_NAMES) if ((attrs & bit) !== 0) s += '+' + name;
  return s;
}

function reasonText(e: DeviceEvent): string {
  switch (e.reason) {
    case 'reset-recommended-limit': return `reset recommended limit: Full for ${e.limit ?? 0} s`;
    case 'finish-recommended-limit': return `finish recommended limit: active for ${e.limit ?? 0} s`;
    case 'zone-active-excursion': return 'zone active excursion: finished by the controller';
  }
}

export function formatEvent(e: DeviceEvent): string {
  return `${new Date(e.time).toISOString()} zone ${e.zone} ${stateWithAttrs(e.fromState, e.fromAttrs)} -> ` +
    `${stateWithAttrs(e.toState, e.toAttrs)} (${reasonText(e)})`;
}

/** One events line, parsed (what the library returns). */
export interface ZoneEvent {
  /** Device time, ms since the epoch. */
  time: number;
  zone: number;
  from: { state: string; attrs: string[] };
  to: { state: string; attrs: string[] };
  reason: string;
  /** The line as the device wrote it. */
  line: string;
}

const LINE = /^(\S+) zone (\d+) (\S+) -> (\S+) \((.*)\)$/;

function splitState(s: string): { state: string; attrs: string[] } {
  const [state, ...attrs] = s.split('+');
  return { state: state!, attrs };
}

/** Parse one line of the events file; undefined for anything else. */
export function parseEvent(line: string): ZoneEvent | undefined {
  const m = LINE.exec(line);
  if (!m) return undefined;
  const time = Date.parse(m[1]!);
  if (Number.isNaN(time)) return undefined;
  return { time, zone: Number(m[2]), from: splitState(m[3]!), to: splitState(m[4]!), reason: m[5]!, line };
}
