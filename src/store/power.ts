/**
 * Flush, power events and the volatile write cache switch (docs/format.md §9.5): what a flush
 * makes durable, what a power loss discards (write pointers back to what the loss policy keeps,
 * the lost data punched, the undo log replayed for the conventional LBAs that lose their newest
 * write) and the spec's shutdown transition. The policy itself is engine/loss-policy.ts.
 */
import * as fs from 'node:fs';
import { LOSS_NONE, LossPolicy, formatLossPolicy, keepsLba } from '../engine/loss-policy.js';
import { commitLastChanges } from './commit.js';
import { backingError } from './backing-error.js';
import { NamespaceCore } from './namespace-core.js';

export type PowerEvent = 'power-loss' | 'shutdown';

/**
 * Make everything acknowledged so far durable: for the emulated device (the volatile cache's
 * contents) and on the host (data and sidecar synced).
 */
export function flush(ns: NamespaceCore): void {
  const { cache, engine } = ns;
  // Data first: a durable write pointer may only move over data that is on disk, and a failed
  // sync must leave the cache (and the undo log) as it was.
  syncData(ns);
  if (cache.dirty.size > 0) {
    const zones = [...cache.dirty];
    const before = zones.map((z) => cache.durable[z]!);
    const beforeZrwa = cache.durableZrwa.length ? zones.map((z) => cache.durableZrwa[z]!) : undefined;
    for (const z of zones) cache.settle(engine, z);
    try {
      ns.sidecar.writeZones(zones);
    } catch (e) {
      zones.forEach((z, i) => {
        cache.durable[z] = before[i]!;
        if (beforeZrwa) cache.durableZrwa[z] = beforeZrwa[i]!;
      });
      try {
        ns.sidecar.writeZones(zones);
      } catch {
        // The sidecar cannot be written at all; the in-memory state is the last good one.
      }
      throw e;
    }
    cache.clear();
  }
  if (cache.on) cache.undo.clear();
  cache.overwritten.clear();
  ns.sidecar.sync();
  ns.trace?.flush();
}

function syncData(ns: NamespaceCore): void {
  try {
    fs.fdatasyncSync(ns.dataFd);
  } catch (e) {
    throw backingError(ns.dataPath, 'flush', e);
  }
}

/** Turn the volatile write cache on or off (turning it off flushes first). */
export function setVolatileCache(ns: NamespaceCore, on: boolean): void {
  if (on === ns.cache.on) return;
  if (!on) flush(ns);
  ns.cache.on = on;
  try {
    ns.sidecar.writeHeader();
  } catch (e) {
    ns.cache.on = !on;
    throw e;
  }
  ns.trace?.cache(on);
}

/**
 * Simulate a power event while running. 'shutdown': the spec's shutdown (flush, then open
 * zones → Closed or Empty). 'power-loss': with the volatile cache on, the writes since the last
 * flush that `keep` does not keep are lost (write pointers roll back, the data reads as zeros),
 * then the power-up transitions apply. Returns the zones that changed.
 */
export function powerCycle(ns: NamespaceCore, event: PowerEvent, keep: LossPolicy = LOSS_NONE): number[] {
  ns.trace?.power(event, formatLossPolicy(keep));
  if (event === 'shutdown') {
    flush(ns);
    return shutdownTransition(ns);
  }
  losePower(ns, keep);
  const changed = ns.engine.powerCycleTransition();
  ns.sidecar.writeZones(changed);
  return changed;
}

/**
 * Roll every zone back to what `keep` keeps of its unflushed writes (none: its last flush), and
 * undo the conventional overwrites it does not keep; returns how many zones lost writes.
 */
export function losePower(ns: NamespaceCore, keep: LossPolicy = LOSS_NONE): number {
  const { cache, engine } = ns;
  const kept = cache.survivors(keep);
  // ZRWA zones keep their window as it was after the same prefix of their writes; overwritten
  // durable LBAs, in a window or not, follow the policy per LBA through the undo log.
  const keptWindow = cache.windowSurvivors(keep);
  const lost = new Map<number, number>();
  for (const z of cache.dirty) {
    const dataEnd = engine.zoneStart(z) + engine.dataLbas(z);
    if (kept[z]! < engine.wpOf(z) || (keptWindow.length && keptWindow[z]! < dataEnd)) lost.set(z, dataEnd);
  }
  const changed = engine.powerLoss(kept, keptWindow);
  commitLastChanges(ns, false, true);
  ns.reclaimer.punchZonesAbove(lost);
  const lba = ns.lbaSize;
  const keeps = keep.kind === 'none' ? undefined : (offset: number): boolean => keepsLba(keep, Math.floor(offset / lba));
  const undone = cache.undo.replay(ns.dataFd, () => syncData(ns), keeps, lba);
  cache.clear();
  if (changed.length > 0 || undone > 0) {
    ns.log.info({ zones: lost.size, conventionalWritesUndone: undone, keep: formatLossPolicy(keep) }, 'power loss: writes since the last flush discarded');
  }
  return lost.size;
}

/** The spec's shutdown transitions without closing (open zones → Closed or Empty). */
export function shutdownTransition(ns: NamespaceCore): number[] {
  ns.engine.powerCycleTransition();
  return commitLastChanges(ns, false, true);
}
