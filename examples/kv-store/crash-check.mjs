/**
 * Check for `zonefuse crashtest` (see README.md): recovers the store on $ZONEFUSE_NS and checks
 * it against the workload's operations (crash-ops.mjs, same --ops and --seed). The last
 * operation acknowledged before the crash point is in $ZONEFUSE_CRASH_MARK ("acked I"): every
 * key must hold its value as of operation I, or a value a later operation wrote (an operation
 * not yet acknowledged may or may not have survived). Exit 0 when consistent, 1 with the
 * problems on stderr.
 *
 *   node crash-check.mjs [--ops N] [--seed S]
 */
import { openDevice } from 'zonefuse';
import { ZonedKV } from './kv.mjs';
import { crashArgs, crashOps } from './crash-ops.mjs';

const { ops: count, seed } = crashArgs(process.argv.slice(2));
const mark = process.env.ZONEFUSE_CRASH_MARK ?? '';
const m = /^acked (\d+)$/.exec(mark);
if (mark !== '' && !m) {
  console.error(`crash-check: unexpected mark ${JSON.stringify(mark)}`);
  process.exit(2);
}
const acked = m ? Number(m[1]) : -1;
const ops = crashOps(seed, count);

// Per key: the value after the last acknowledged operation, and what later operations wrote.
const must = new Map();
const later = new Map();
ops.forEach((op, i) => {
  if (i <= acked) must.set(op.key, op.value);
  else {
    if (!later.has(op.key)) later.set(op.key, new Set());
    later.get(op.key).add(op.value);
  }
});

const problems = [];
const dev = openDevice(process.env.ZONEFUSE_NS);
try {
  let kv;
  try {
    kv = ZonedKV.open(dev);
  } catch (e) {
    problems.push(`recovery failed: ${e.message}`);
  }
  if (kv) {
    const keys = new Set([...must.keys(), ...later.keys()]);
    for (const k of kv.keys()) if (!keys.has(k)) problems.push(`key ${k} was never written`);
    for (const k of keys) {
      let got;
      try {
        got = kv.get(k)?.toString() ?? null;
      } catch (e) {
        problems.push(`${k}: ${e.message}`);
        continue;
      }
      const want = must.has(k) ? must.get(k) : null;
      if (got === want || later.get(k)?.has(got)) continue;
      const show = (v) => (v === null ? 'absent' : JSON.stringify(v.slice(0, v.indexOf(':') + 1)));
      problems.push(`${k}: ${show(got)}, but operation ${acked} was acknowledged with ${show(want)}`);
    }
  }
} finally {
  dev.dispose();
}
if (problems.length > 0) {
  console.error(`crash-check (acked ${acked}): ${problems.length} problem${problems.length === 1 ? '' : 's'}: ${problems.slice(0, 3).join('; ')}`);
  process.exit(1);
}
console.log(`crash-check: consistent (acked ${acked})`);
