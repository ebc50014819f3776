/**
 * Zone management commands and zone-level faults (docs/format.md §9.1). Zone management is
 * durable: the records are written with durable_wp = wp, which also makes the zone's earlier
 * cached writes durable. A reset frees the zone's space before it returns.
 */
import { Rejection } from '../engine/status.js';
import { ZoneAttr, ZoneState } from '../engine/zone.js';
import { FaultCommand, ManageOptions, ZoneCommand } from '../engine/namespace.js';
import { commitLastChanges } from './commit.js';
import { flush } from './power.js';
import { clearMediaFaults, listMediaFaults } from './media-faults.js';
import { NamespaceCore } from './namespace-core.js';

export function manage(ns: NamespaceCore, cmd: ZoneCommand, zone: number | 'all', opts: ManageOptions = {}): Rejection | undefined {
  settleOverwrites(ns, zone);
  const before = ns.trace && cmd === 'reset' ? dataEnds(ns) : undefined;
  const r = ns.engine.manage(cmd, zone, opts);
  if (r) return r;
  const changed = commitLastChanges(ns, false, true, zone === 'all' ? undefined : zone);
  if (before) traceDiscarded(ns, changed, before);
  ns.trace?.manage(cmd, zone);
  if (cmd === 'reset') ns.reclaimer.punchZones(changed);
  return undefined;
}

/** ZRWA Flush: commit zone `zone`'s window up to and including `lba` (engine.zrwaFlush). */
export function zrwaFlush(ns: NamespaceCore, zone: number, lba: number): Rejection | undefined {
  settleOverwrites(ns, zone);
  const r = ns.engine.zrwaFlush(zone, lba);
  if (r) return r;
  commitLastChanges(ns, false, true, zone);
  return undefined;
}

/**
 * Zone management makes a zone's cached writes durable. If some of them overwrote durable LBAs
 * (ZRWA window, host-aware zone), the undo log holds their pre-images and a power loss would
 * put those back: flush the whole cache first, which empties the log. (A device may always
 * flush more than it must.)
 */
function settleOverwrites(ns: NamespaceCore, zone: number | 'all'): void {
  const o = ns.cache.overwritten;
  if (o.size > 0 && (zone === 'all' || o.has(zone))) flush(ns);
}

/** Per zone, how many LBAs hold data (what a reset or a cleared fault is about to discard). */
function dataEnds(ns: NamespaceCore): Float64Array {
  const e = ns.engine;
  const out = new Float64Array(e.nrZones);
  for (let z = e.convZones; z < e.nrZones; z++) out[z] = e.dataLbas(z);
  return out;
}

/**
 * For the trace: save the data of zones just emptied (still in the file: their space is freed
 * after this), before the command's own record.
 */
function traceDiscarded(ns: NamespaceCore, changed: number[], before: Float64Array): void {
  const e = ns.engine;
  for (const z of changed) {
    if (e.stateOf(z) !== ZoneState.EMPTY || before[z]! === 0) continue;
    ns.trace!.preImage(ns.dataFd, e.zoneStart(z) * ns.lbaSize, before[z]! * ns.lbaSize);
  }
}

export function setDescriptorExtension(ns: NamespaceCore, zone: number, data: Uint8Array): Rejection | undefined {
  const r = ns.engine.setDescriptorExtension(zone, data);
  if (r) return r;
  ns.sidecar.forgetExtension(zone);
  commitLastChanges(ns, true, true);
  ns.trace?.setExt(zone, data);
  return undefined;
}

export function injectFault(ns: NamespaceCore, kind: FaultCommand, zone: number): Rejection | undefined {
  const r = ns.engine.injectFault(kind, zone);
  if (r) return r;
  commitLastChanges(ns, false, true);
  ns.trace?.zoneFault(kind, zone);
  return undefined;
}

export function clearFault(ns: NamespaceCore, zone: number): Rejection | undefined {
  const before = ns.trace ? dataEnds(ns) : undefined;
  const r = ns.engine.clearFault(zone);
  if (r) return r;
  const changed = commitLastChanges(ns, false, true);
  if (before) traceDiscarded(ns, changed, before);
  ns.trace?.clearFault(zone);
  ns.reclaimer.punchZones(changed);
  return undefined;
}

/** Set or clear a Reset/Finish Zone Recommended attribute. */
export function setRecommendation(ns: NamespaceCore, zone: number, which: 'reset' | 'finish', on: boolean): Rejection | undefined {
  const r = ns.engine.setRecommendation(zone, which === 'reset' ? ZoneAttr.RZR : ZoneAttr.FZR, on);
  if (r) return r;
  commitLastChanges(ns, false, true);
  ns.trace?.recommend(zone, which, on);
  return undefined;
}

/** Every injected fault, as ctl commands that would set it again. */
export function listFaults(ns: NamespaceCore): string[] {
  const e = ns.engine;
  const out = listMediaFaults(ns);
  for (let z = e.convZones; z < e.nrZones; z++) {
    const s = e.stateOf(z);
    if (s === ZoneState.READ_ONLY) out.push(`readonly ${z}`);
    if (s === ZoneState.OFFLINE) out.push(`offline ${z}`);
    const a = e.attrsOf(z);
    if (a & ZoneAttr.RZR) out.push(`recommend reset ${z}`);
    if (a & ZoneAttr.FZR) out.push(`recommend finish ${z}`);
  }
  return out;
}

/**
 * Remove every injected fault: bad ranges, random mode, recommendations, and Read Only or
 * Offline zones (they come back Empty, their data discarded). Returns how many were removed.
 */
export function clearFaults(ns: NamespaceCore): number {
  const e = ns.engine;
  let n = clearMediaFaults(ns);
  for (let z = e.convZones; z < e.nrZones; z++) {
    const s = e.stateOf(z);
    if (s === ZoneState.READ_ONLY || s === ZoneState.OFFLINE) {
      if (!clearFault(ns, z)) n++;
    }
    for (const which of ['reset', 'finish'] as const) {
      const bit = which === 'reset' ? ZoneAttr.RZR : ZoneAttr.FZR;
      if (e.attrsOf(z) & bit) {
        setRecommendation(ns, z, which, false);
        n++;
      }
    }
  }
  return n;
}
