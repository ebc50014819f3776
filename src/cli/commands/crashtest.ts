/**
 * `zonefuse crashtest STORE --workload CMD --check CMD …` and `--materialize ID DIR`
 * (PRODUCT.md §13). Exit 0: every state passed; 1: some failed; 2: a usage or workload error.
 */
import { CrashtestError, DEFAULT_JOBS, formatReport, materializeState, runCrashtest } from '../../crashtest/run.js';
import { formatLossPolicy } from '../../engine/loss-policy.js';

export interface CrashtestFlags {
  workload?: string;
  check?: string;
  seed: number;
  maxStates: number;
  jobs?: number;
  timeLimit?: number;
  json?: string;
  ns?: string;
  work?: string;
  traceLimit?: number;
  checkTimeout?: number;
  materialize?: string;
  fuse?: string;
}

function usage(message: string): never {
  throw new CrashtestError(message);
}

export async function crashtestCommand(store: string, dir: string | undefined, flags: CrashtestFlags): Promise<void> {
  try {
    if (flags.materialize !== undefined) {
      if (flags.workload !== undefined || flags.check !== undefined) usage('--materialize rebuilds a state of the last run: it takes no --workload or --check');
      if (dir === undefined) usage('--materialize ID needs the directory to build the state in: crashtest STORE --materialize ID DIR');
      const id = flags.materialize;
      const r = materializeState({ store, work: flags.work, id, dir });
      const s = r.state;
      process.stdout.write(
        `materialised crash state ${s.id} (after ${s.point} of ${r.ops} device operations, loss policy ${formatLossPolicy(s.policy)}, ` +
        `${s.flushes} flushes, last mark ${s.mark ? JSON.stringify(s.mark) : 'none'}) as namespace ${r.namespace} in ${r.dir}\n` +
        `mount it with: zonefuse mount ${r.dir} MNT\n`);
      return;
    }
    if (dir !== undefined) usage(`unexpected argument ${JSON.stringify(dir)} (only --materialize ID DIR takes a directory)`);
    if (flags.workload === undefined) usage('--workload CMD is required (or --materialize ID DIR)');
    if (flags.check === undefined) usage('--check CMD is required');
    const report = await runCrashtest({
      store, ns: flags.ns, workload: flags.workload, check: flags.check, seed: flags.seed, maxStates: flags.maxStates,
      jobs: flags.jobs ?? DEFAULT_JOBS, timeLimit: flags.timeLimit, json: flags.json, work: flags.work,
      traceLimit: flags.traceLimit, checkTimeout: flags.checkTimeout, fuse: flags.fuse,
    });
    process.stdout.write(formatReport(report));
    process.exitCode = report.states.failed > 0 ? 1 : 0;
  } catch (e) {
    process.stderr.write(`zonefuse: crashtest: ${(e as Error).message}\n`);
    process.exitCode = 2;
  }
}
