/**
 * The start-up of a read-write open (docs/format.md §9.3): an unclean shutdown detected (with the
 * volatile cache on, that is a power loss: unflushed writes are discarded) and the data above the
 * write pointers punched, the power-up transition applied, the sidecar marked in use.
 */
import { Flag } from './format.js';
import { NamespaceCore } from './namespace-core.js';
import { losePower } from './power.js';

export function startUp(ns: NamespaceCore, unclean: boolean): void {
  const h = ns.sidecar.header;
  const cacheOn = ns.cache.on;
  if (unclean) {
    h.uncleanCount++;
    const lost = cacheOn ? losePower(ns) : 0;
    const scrubbed = ns.reclaimer.discardAboveWritePointers();
    ns.log.warn({ mountCount: h.mountCount, uncleanCount: h.uncleanCount, zonesScrubbed: scrubbed, zonesRolledBack: lost },
      `unclean shutdown detected for namespace ${ns.name}: ` +
      (cacheOn
        ? `treated as a power loss (volatile write cache on): ${lost} zones rolled back to their last flush`
        : 'zone states and write pointers recovered from the sidecar'));
  }
  if (ns.engine.openExcess > 0) {
    ns.log.warn({ excess: ns.engine.openExcess }, 'more open zones than the limit on disk (a crash during an implicit close); all are closed now');
  }
  const changed = ns.engine.powerCycleTransition();
  if (changed.length > 0) {
    ns.sidecar.writeZones(changed);
    ns.log.info({ zones: changed.length }, 'open zones closed at start-up (ZNS power-up transition)');
  }
  h.flags &= ~Flag.CLEAN;
  h.mountCount++;
  h.lastOpened = Date.now();
  ns.sidecar.writeHeader();
}
