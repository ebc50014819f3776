/**
 * Persisting what the engine just did: the records of the zones its last operation changed, with
 * the durable write pointers they imply. If the sidecar cannot be written, the engine and the
 * durable write pointers go back to before the operation and the error is thrown (docs/format.md
 * §9.1). Reporting the error is the caller's: it reaches whoever asked for the operation.
 */
import { NamespaceCore } from './namespace-core.js';

/**
 * Persist the zones the engine changed in its last operation; roll back on failure.
 * `durable`: the operation is durable at once (zone management), so the zones' durable write
 * pointers follow; otherwise (writes) only when the volatile cache is off.
 * `named`: the zone a durable command named; it is settled even when the command changed nothing
 * in it (open of an explicitly opened zone, finish of a Full zone), since it holds cached writes.
 */
export function commitLastChanges(ns: NamespaceCore, writeExt = false, durable = false, named?: number): number[] {
  const { engine, cache } = ns;
  let changed = engine.lastChanges();
  if (durable && named !== undefined && cache.dirty.has(named) && !changed.includes(named)) changed = [...changed, named];
  if (changed.length === 0) return changed;
  // (One zone per write: keep the rollback copy out of an array on that path.)
  const before0 = cache.durable[changed[0]!]!;
  const before = changed.length > 1 ? changed.map((z) => cache.durable[z]!) : undefined;
  cache.track(engine, changed, durable || !cache.on);
  try {
    ns.sidecar.writeZones(changed, writeExt);
  } catch (e) {
    engine.revertLastOperation();
    changed.forEach((z, i) => (cache.durable[z] = before ? before[i]! : before0));
    try {
      ns.sidecar.writeZones(changed, writeExt);
    } catch {
      // The sidecar cannot be written at all; the in-memory state is the last good one.
    }
    throw e;
  }
  return changed;
}
