/**
 * Workload for `zonefuse crashtest` (see README.md): opens the store on $ZONEFUSE_NS with
 * durable puts, runs the operations of crash-ops.mjs, and after each one returns writes
 * `mark acked I` to the namespace's ctl: from then on the caller counts on operation I.
 * `--buggy` runs the store's deliberately broken mode (acknowledges before it flushes).
 *
 *   node crash-workload.mjs [--ops N] [--seed S] [--buggy]
 */
import * as fs from 'node:fs';
import { openDevice } from 'zonefuse';
import { ZonedKV } from './kv.mjs';
import { crashArgs, crashOps } from './crash-ops.mjs';

const { ops, seed, buggy } = crashArgs(process.argv.slice(2));
const nsPath = process.env.ZONEFUSE_NS;
if (!nsPath) {
  console.error('crash-workload: ZONEFUSE_NS is not set (run me from zonefuse crashtest --workload)');
  process.exit(2);
}
const dev = openDevice(nsPath);
try {
  const kv = ZonedKV.open(dev, { syncPuts: true, buggyAckBeforeFlush: buggy });
  for (const [i, op] of crashOps(seed, ops).entries()) {
    if (op.value === null) kv.delete(op.key);
    else kv.put(op.key, op.value);
    fs.writeFileSync(`${nsPath}.zones/ctl`, `mark acked ${i}`);
  }
  console.log(`crash-workload: ${ops} operations acknowledged; ${JSON.stringify(kv.stats())}`);
} finally {
  dev.dispose();
}
