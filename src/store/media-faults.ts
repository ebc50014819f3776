/**
 * Injected media faults on the I/O path (docs/format.md §7.2): which reads and writes the fault
 * table fails, what a torn write still lands, and the table's own changes (ranges added or
 * healed, random mode), each written to the sidecar's fault block. A command whose block cannot be
 * written changes nothing.
 */
import { Rejection, Status } from '../engine/status.js';
import { BadRange, RandomFaults, formatRandom, formatRange } from './faults.js';
import { NamespaceCore } from './namespace-core.js';

export function readFault(ns: NamespaceCore, slba: number, nlb: number): Rejection | undefined {
  const range = ns.faults.hit('read', slba, nlb);
  if (!range && !ns.faults.roll('read')) return undefined;
  if (range?.once) healRange(ns, range);
  const detail = range
    ? `injected read error in LBAs ${range.start}..${range.start + range.count - 1}${range.once ? ' (once)' : ''}`
    : 'injected random read error';
  return faultRejection(ns, Status.UNRECOVERED_READ_ERROR, 'read', slba, detail);
}

/** An injected write failure for [slba, slba+nlb): how many LBAs still land, and the error. */
export function writeFault(ns: NamespaceCore, op: string, slba: number, nlb: number): { good: number; rejection: Rejection } | undefined {
  const range = ns.faults.hit('write', slba, nlb);
  if (!range && !ns.faults.roll('write')) return undefined;
  let good = 0;
  let detail = 'injected random write error';
  if (range) {
    if (range.once) healRange(ns, range);
    good = range.partial ? Math.max(0, range.start - slba) : 0;
    detail = `injected write error in LBAs ${range.start}..${range.start + range.count - 1}${range.once ? ' (once)' : ''}` +
      (range.partial ? `: torn write, ${good} of ${nlb} LBAs written` : '');
  }
  return { good, rejection: faultRejection(ns, Status.WRITE_FAULT, op, slba, detail) };
}

function faultRejection(ns: NamespaceCore, status: typeof Status.WRITE_FAULT, op: string, lba: number, detail: string): Rejection {
  const e = ns.engine;
  const zone = e.zoned ? e.zoneOf(lba) : -1;
  const wp = zone >= 0 && !e.isConventional(zone) ? e.wpOf(zone) : -1;
  return { status, op, zone, lba, wp, detail };
}

function healRange(ns: NamespaceCore, r: BadRange): void {
  changeFaults(ns, () => ns.faults.remove(r));
}

/** Fail reads and/or writes of LBAs [start, start+count). */
export function addBadRange(ns: NamespaceCore, r: BadRange): void {
  if (!(r.count >= 1) || r.start < 0 || r.start + r.count > ns.engine.nlba) {
    throw new RangeError(`LBAs ${r.start}..${r.start + r.count - 1} are outside the namespace (${ns.engine.nlba} LBAs)`);
  }
  changeFaults(ns, () => ns.faults.add(r));
}

/** Fail one write in `writeOneIn` and one read in `readOneIn`, reproducibly from `seed`. */
export function setRandomFaults(ns: NamespaceCore, rnd: RandomFaults | undefined): void {
  changeFaults(ns, () => ns.faults.setRandom(rnd));
}

/** The bad ranges and random mode, as ctl commands that would set them again. */
export function listMediaFaults(ns: NamespaceCore): string[] {
  const out = ns.faults.ranges.map(formatRange);
  if (ns.faults.random) out.push(formatRandom(ns.faults.random));
  return out;
}

/** Remove every bad range and random mode; returns how many were removed. */
export function clearMediaFaults(ns: NamespaceCore): number {
  const n = ns.faults.ranges.length + (ns.faults.random ? 1 : 0);
  changeFaults(ns, () => ns.faults.clear());
  return n;
}

/**
 * Apply `change` to the fault table and write the block; if it cannot be written, undo it. (A
 * recorded trace gets the new table.)
 */
function changeFaults(ns: NamespaceCore, change: () => void): void {
  const t = ns.faults;
  const ranges = t.ranges.slice();
  const random = t.random;
  change();
  try {
    ns.sidecar.writeFaults(t);
  } catch (e) {
    t.ranges = ranges;
    if (t.random !== random) t.setRandom(random);
    throw e;
  }
  ns.trace?.faultTable(t.encode(ns.sidecar.header.endianness));
}
