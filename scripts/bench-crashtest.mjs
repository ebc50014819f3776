#!/usr/bin/env node
/**
 * scripts/bench-crashtest.mjs: crash states per second of `zonefuse crashtest` (issue 18: at
 * least 20 states/s for a 256 MiB namespace with a small workload), with a baseline in the same
 * run, interleaved rounds and medians.
 *
 *   node scripts/bench-crashtest.mjs [--rounds N] [--states N] [--jobs N] [--json PATH] [--dir DIR] [--keep]
 *
 * Store: one 256 MiB namespace, 1 MiB zones (256 zones), 1 conventional zone. Workload: the
 * kv-store example's crash workload, 30 durable puts/deletes with their flushes and marks
 * (examples/kv-store/crash-workload.mjs). Each round runs, in this order:
 *
 *   crashtest/sh   zonefuse crashtest with a shell check that really reads the mounted state
 *                  (the zone report and the first 1 MiB of the namespace file; two processes,
 *                  sh and head): the harness's own rate (materialise, attach to a running
 *                  daemon, check, detach)
 *   crashtest/kv   the same with the example's recovery check (a Node.js process per state,
 *                  which opens the store and reads every key: the check's own start-up shows)
 *   per-state      the baseline: what a script without crashtest does per state — rebuild it
 *                  (`crashtest --materialize`), start `zonefuse mount`, run the shell check,
 *                  `zonefuse umount` — for a few of the same states
 *
 * The rate is states checked / seconds of the checking phase (the workload runs once per
 * crashtest run and is reported apart). Results: a table on stdout, JSON in
 * .bench/crashtest.json. The machine's load matters (say so when reporting).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CLI = path.join(ROOT, 'bin', 'zonefuse.js');
const EX = path.join(ROOT, 'examples', 'kv-store');

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const ROUNDS = Number(opt('--rounds', 3));
const STATES = Number(opt('--states', 80));
const JOBS = Number(opt('--jobs', Math.max(1, Math.min(4, os.availableParallelism()))));
const BASELINE_STATES = 6;
const JSON_OUT = path.resolve(opt('--json', path.join(ROOT, '.bench', 'crashtest.json')));
const DIR = path.resolve(opt('--dir', path.join(ROOT, '.bench', `crashtest-${process.pid}`)));
const KEEP = args.includes('--keep');

const OPS = 30;
const WORKLOAD = `node ${EX}/crash-workload.mjs --ops ${OPS}`;
const SH_CHECK = 'read -r first < "$ZONEFUSE_NS.zones/report" && head -c 1048576 "$ZONEFUSE_NS" > /dev/null';
const KV_CHECK = `node ${EX}/crash-check.mjs --ops ${OPS}`;

function zonefuse(argv) {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [CLI, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    p.on('close', (status) => resolve({ status, out, err }));
  });
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function crashtestRound(store, check, tag, round) {
  const work = path.join(DIR, `work-${tag}-${round}`);
  const json = path.join(DIR, `report-${tag}-${round}.json`);
  const t0 = Date.now();
  const r = await zonefuse(['crashtest', store, '--workload', WORKLOAD, '--check', check, '--max-states', String(STATES), '--jobs', String(JOBS), '--seed', '1', '--work', work, '--json', json]);
  const wall = (Date.now() - t0) / 1000;
  if (r.status !== 0) throw new Error(`crashtest (${tag}) exited ${r.status}: ${r.err.trim().split('\n').pop()}`);
  const rep = JSON.parse(fs.readFileSync(json, 'utf8'));
  const phase = (k) => median(rep.results.map((x) => x.ms[k]));
  return {
    statesPerSecond: rep.statesPerSecond, states: rep.states.checked, seconds: rep.seconds, wall,
    method: rep.materialize.method, bytesPerState: rep.materialize.bytesPerState,
    ms: { materialize: phase('materialize'), attach: phase('attach'), check: phase('check'), detach: phase('detach') },
    work, ids: rep.results.map((x) => x.id), traceOps: rep.trace.ops,
  };
}

/** The baseline: a fresh daemon per state. */
async function perStateRound(store, work, ids, round) {
  const t0 = Date.now();
  for (const [i, id] of ids.entries()) {
    const dir = path.join(DIR, `ps-${round}-${i}`);
    const mnt = path.join(DIR, `ps-${round}-${i}-mnt`);
    const m = await zonefuse(['crashtest', store, '--work', work, '--materialize', id, dir]);
    if (m.status !== 0) throw new Error(`materialize ${id}: ${m.err}`);
    fs.mkdirSync(mnt, { recursive: true });
    const log = fs.openSync(path.join(DIR, `ps-${round}-${i}.log`), 'w');
    const d = spawn(process.execPath, [CLI, 'mount', dir, mnt, '--log-level', 'info'], { stdio: ['ignore', 'ignore', log] });
    const exited = new Promise((r) => d.on('exit', r));
    fs.closeSync(log);
    const up = Date.now() + 30_000;
    while (!/"msg":"serving /.test(fs.readFileSync(path.join(DIR, `ps-${round}-${i}.log`), 'utf8'))) {
      if (Date.now() > up) throw new Error(`mount of ${dir} did not come up`);
      await new Promise((r) => setTimeout(r, 10));
    }
    const c = spawnSync('sh', ['-c', SH_CHECK], { env: { ...process.env, ZONEFUSE_NS: path.join(mnt, 'nvme0n1'), ZONEFUSE_MNT: mnt } });
    if (c.status !== 0) throw new Error(`check failed on ${id}`);
    const u = await zonefuse(['umount', mnt]);
    if (u.status !== 0) throw new Error(`umount ${mnt}: ${u.err}`);
    await exited;
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const s = (Date.now() - t0) / 1000;
  return { statesPerSecond: ids.length / s, states: ids.length, seconds: s };
}

async function main() {
  fs.mkdirSync(DIR, { recursive: true });
  const store = path.join(DIR, 'store');
  const c = spawnSync(process.execPath, [CLI, 'create', store, '--size', '256M', '--zone-size', '1M', '--conv-zones', '1'], { encoding: 'utf8' });
  if (c.status !== 0) throw new Error(c.stderr);
  const rows = { 'crashtest/sh': [], 'crashtest/kv': [], 'per-state': [] };
  try {
    for (let round = 1; round <= ROUNDS; round++) {
      const sh = await crashtestRound(store, SH_CHECK, 'sh', round);
      rows['crashtest/sh'].push(sh);
      rows['crashtest/kv'].push(await crashtestRound(store, KV_CHECK, 'kv', round));
      // The same states as crashtest/sh checked, spread over the run.
      const step = Math.max(1, Math.floor(sh.ids.length / BASELINE_STATES));
      const ids = sh.ids.filter((_, i) => i % step === 0).slice(0, BASELINE_STATES);
      rows['per-state'].push(await perStateRound(store, sh.work, ids, round));
      process.stderr.write(`round ${round}/${ROUNDS}: ${Object.entries(rows).map(([k, v]) => `${k} ${v.at(-1).statesPerSecond.toFixed(1)}/s`).join(', ')}\n`);
    }
  } finally {
    if (!KEEP) fs.rmSync(DIR, { recursive: true, force: true });
  }
  const first = rows['crashtest/sh'][0];
  const out = {
    date: new Date().toISOString(), host: os.hostname(), cpus: os.availableParallelism(), loadavg: os.loadavg(),
    namespace: '256 MiB, 1 MiB zones', workload: `${WORKLOAD} (${first.traceOps} device operations)`, jobs: JOBS, statesPerRun: STATES, rounds: ROUNDS,
    materialize: { method: first.method, bytesPerState: first.bytesPerState },
    results: Object.fromEntries(Object.entries(rows).map(([k, v]) => [k, {
      statesPerSecondMedian: Number(median(v.map((x) => x.statesPerSecond)).toFixed(2)),
      rounds: v.map((x) => ({ statesPerSecond: Number(x.statesPerSecond.toFixed(2)), states: x.states, seconds: x.seconds, ...(x.ms ? { msMedian: x.ms } : {}) })),
    }])),
    target: { statesPerSecond: 20, met: median(rows['crashtest/sh'].map((x) => x.statesPerSecond)) >= 20 },
  };
  fs.mkdirSync(path.dirname(JSON_OUT), { recursive: true });
  fs.writeFileSync(JSON_OUT, JSON.stringify(out, null, 2) + '\n');
  const lines = [
    `crash states per second, 256 MiB namespace (1 MiB zones), workload ${first.traceOps} device operations, ${JOBS} jobs, ${ROUNDS} rounds (median), load ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`,
    `materialisation: ${first.method} (${(first.bytesPerState / 1024).toFixed(1)} KiB written per state; the 256 MiB image is never copied)`,
    '',
    'target          states/s  per state: materialise  attach  check  detach (ms, medians)',
  ];
  for (const [k, v] of Object.entries(rows)) {
    const sps = median(v.map((x) => x.statesPerSecond));
    const ms = v[0].ms ? ['materialize', 'attach', 'check', 'detach'].map((p) => median(v.map((x) => x.ms[p])).toFixed(0).padStart(p === 'materialize' ? 12 : 6)).join('  ') : '  (fresh daemon, materialise and mount per state)';
    lines.push(`${k.padEnd(14)}  ${sps.toFixed(1).padStart(8)}  ${' '.repeat(10)}${ms}`);
  }
  lines.push('', `target >= 20 states/s (crashtest/sh): ${out.target.met ? 'met' : 'NOT met'}; JSON: ${JSON_OUT}`);
  console.log(lines.join('\n'));
}

main().catch((e) => {
  console.error(`bench-crashtest: ${e.message}`);
  process.exit(1);
});
