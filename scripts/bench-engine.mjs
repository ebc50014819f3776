#!/usr/bin/env node
/**
 * bench-engine: throughput and memory of the pure zone engine (dist/engine, no I/O, no FUSE).
 *
 * Measures
 *   write.seq          ops/s of checkWrite + commitWrite, 1 LBA each, filling zone after zone
 *                      (sequential writes across many zones; each zone goes Empty → Implicitly
 *                      Opened → Full)
 *   write.churn        ops/s of write() of 1 LBA round-robin over 1,024 zones with max open = 14
 *                      and auto-transition on: every write implicitly closes the oldest
 *                      implicitly opened zone and opens (Closed → Implicitly Opened) another
 *   write.zrwa         the same sequential 1-LBA writes into zones opened with a ZRWA (16 LBAs,
 *                      flushed by 1), with the RRL/FRL timers on: every write past the window
 *                      flushes it implicitly, one write in 8 also overwrites the LBA before it,
 *                      and each zone ends with an explicit ZRWA flush (compare with write.seq)
 *   manage.cycle       single-zone management commands per second: open, close, finish, reset of
 *                      one zone, over and over (4 commands per cycle)
 *   report.100k        ms for report() of every zone of a 100,000-zone namespace (median of 5)
 *   memory.1M          heap + arrayBuffers growth for constructing a 1,000,000-zone namespace,
 *                      with a pass/fail flag against the 100 MB budget
 * Throughput figures are the median of 5 timed runs of about 0.6 s each, after a 0.2 s warm-up
 * run; report and memory run with a collected heap (gc exposed through v8.setFlagsFromString).
 *
 * Output: one JSON object on stdout (machine-readable), a human table on stderr.
 * Usage:  npm run build && node scripts/bench-engine.mjs        (about 15 s)
 * Exit status 1 when the memory budget is exceeded.
 */
import { performance } from 'node:perf_hooks';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const engineUrl = new URL('../dist/engine/index.js', import.meta.url);
if (!existsSync(fileURLToPath(engineUrl))) {
  process.stderr.write('bench-engine: dist/ is missing: run `npm run build` first\n');
  process.exit(1);
}
const { ZonedNamespace } = await import(engineUrl.href);

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc');

const KiB = 1024;
const MiB = 1024 * KiB;
const MEMORY_BUDGET_MB = 100;

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function fail(what, r) {
  throw new Error(`${what}: unexpected rejection: ${r.detail} (${r.status.name})`);
}

/**
 * Run `batch()` (which performs `perBatch` operations) until `seconds` have passed;
 * returns operations per second. `setup()` gives a fresh state for each timed run.
 */
function rate(setup, perBatch, seconds = 0.6, runs = 5) {
  const results = [];
  for (let run = -1; run < runs; run++) {
    const batch = setup();
    let ops = 0;
    const t0 = performance.now();
    const budget = (run < 0 ? 0.2 : seconds) * 1000;
    let t = t0;
    while (t - t0 < budget) {
      batch();
      ops += perBatch;
      t = performance.now();
    }
    if (run >= 0) results.push((ops * 1000) / (t - t0));
  }
  return { opsPerSec: Math.round(median(results)), runs: results.map(Math.round) };
}

// --- write.seq: checkWrite + commitWrite of 1 LBA, zone after zone ------------------------------
function seqWriteSetup() {
  // 4 KiB LBAs, 1 MiB zones (256 LBAs), 65,536 zones: 16.7 M LBAs, more than a run can write.
  const ns = new ZonedNamespace({
    lbaSize: 4096, zoneSize: MiB, capacity: 65536 * MiB, convZones: 0, maxOpen: 14, maxActive: 14,
  });
  let lba = 0;
  const end = ns.nlba;
  return () => {
    for (let i = 0; i < 4096; i++) {
      if (lba >= end) throw new Error('write.seq ran out of zones; make the namespace bigger');
      const r = ns.checkWrite(lba, 1);
      if (r) fail('write.seq', r);
      ns.commitWrite(lba, 1);
      lba++;
    }
  };
}

// --- write.zrwa: the same writes through a ZRWA, timers on --------------------------------------
function zrwaWriteSetup() {
  const ns = new ZonedNamespace({
    lbaSize: 4096, zoneSize: MiB, capacity: 65536 * MiB, convZones: 0, maxOpen: 14, maxActive: 14,
    zrwas: 64 * KiB, zrwafg: 4 * KiB, numzrwa: 14, rrl: 3600, frl: 3600,
  }, { clock: () => performance.now() });
  const zl = ns.zoneLbas;
  let lba = 0;
  let n = 0;
  const end = ns.nlba;
  return () => {
    for (let i = 0; i < 4096; i++) {
      if (lba >= end) throw new Error('write.zrwa ran out of zones; make the namespace bigger');
      const z = Math.floor(lba / zl);
      if (lba === z * zl) {
        const o = ns.manage('open', z, { zrwa: true });
        if (o) fail('open zrwa', o);
      }
      let r = ns.checkWrite(lba, 1);
      if (r) fail('write.zrwa', r);
      ns.commitWrite(lba, 1);
      if (++n % 8 === 0 && lba > ns.wpOf(z)) {
        r = ns.checkWrite(lba - 1, 1); // an overwrite inside the window
        if (r) fail('write.zrwa overwrite', r);
        ns.commitWrite(lba - 1, 1);
      }
      lba++;
      if (lba === (z + 1) * zl) {
        r = ns.zrwaFlush(z, lba - 1);
        if (r) fail('zrwa flush', r);
      }
    }
  };
}

// --- write.churn: write() round-robin over more zones than may be open ------------------------
function churnSetup() {
  const zones = 1024;
  // 64 MiB zones of 4 KiB LBAs: 16,384 writes per zone before one fills, ~16.7 M in all.
  const ns = new ZonedNamespace({
    lbaSize: 4096, zoneSize: 64 * MiB, capacity: zones * 64 * MiB, convZones: 0,
    maxOpen: 14, maxActive: 0, autoTransition: true,
  });
  const wp = new Float64Array(zones);
  for (let z = 0; z < zones; z++) wp[z] = z * ns.zoneLbas;
  let z = 0;
  return () => {
    for (let i = 0; i < 4096; i++) {
      const r = ns.write(wp[z], 1);
      if (r) fail('write.churn', r);
      wp[z]++;
      z = (z + 1) % zones;
    }
  };
}

// --- manage.cycle: open, close, finish, reset of one zone -------------------------------------
function manageSetup() {
  const ns = new ZonedNamespace({ lbaSize: 4096, zoneSize: MiB, capacity: 64 * MiB, convZones: 2 });
  const z = 5;
  return () => {
    for (let i = 0; i < 1024; i++) {
      let r = ns.manage('open', z);
      if (r) fail('open', r);
      r = ns.manage('close', z);
      if (r) fail('close', r);
      r = ns.manage('finish', z);
      if (r) fail('finish', r);
      r = ns.manage('reset', z);
      if (r) fail('reset', r);
    }
  };
}

// --- report.100k --------------------------------------------------------------------------
function reportBench() {
  const n = 100_000;
  const ns = new ZonedNamespace({
    lbaSize: 4096, zoneSize: MiB, capacity: n * MiB, convZones: 2, maxOpen: 14, maxActive: 14,
  });
  // Some variety: 10 closed zones (each holds an active resource), 190 full ones, the rest empty.
  for (let z = 2; z < 202; z++) {
    const r = ns.write(z * ns.zoneLbas, 3) ?? ns.manage(z < 12 ? 'close' : 'finish', z);
    if (r) fail('report setup', r);
  }
  const times = [];
  for (let i = 0; i < 6; i++) {
    gc();
    const t0 = performance.now();
    const rep = ns.report();
    const t = performance.now() - t0;
    if (!rep.zones || rep.zones.length !== n) throw new Error('report returned the wrong number of zones');
    if (i > 0) times.push(t); // the first run is a warm-up
  }
  return { zones: n, medianMs: +median(times).toFixed(2), runsMs: times.map((t) => +t.toFixed(2)) };
}

// --- memory.1M ----------------------------------------------------------------------------
function memUsed() {
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

function memoryBench() {
  const n = 1_000_000;
  gc();
  gc();
  const before = memUsed();
  let ns = new ZonedNamespace({
    lbaSize: 4096, zoneSize: MiB, capacity: n * MiB, convZones: 2, maxOpen: 14, maxActive: 14,
  });
  gc();
  gc();
  const after = memUsed();
  if (ns.nrZones !== n) throw new Error('wrong zone count');
  // Touch it so it is live up to here.
  const r = ns.write(10 * ns.zoneLbas, 1);
  if (r) fail('memory write', r);
  const deltaMB = (after - before) / 1e6;
  ns = null;
  return {
    zones: n,
    deltaBytes: after - before,
    deltaMB: +deltaMB.toFixed(1),
    bytesPerZone: +((after - before) / n).toFixed(1),
    budgetMB: MEMORY_BUDGET_MB,
    pass: deltaMB < MEMORY_BUDGET_MB,
  };
}

const started = performance.now();
// Memory first, on a quiet heap.
const memory = memoryBench();
gc();
const writeSeq = rate(seqWriteSetup, 4096);
const writeZrwa = rate(zrwaWriteSetup, 4096);
const writeChurn = rate(churnSetup, 4096);
const manage = rate(manageSetup, 4096);
const report = reportBench();
const elapsed = (performance.now() - started) / 1000;

const result = {
  bench: 'engine',
  node: process.version,
  arch: process.arch,
  date: new Date().toISOString(),
  results: {
    writeSeq: { ...writeSeq, description: 'checkWrite+commitWrite, 1 LBA, sequential across zones (ops/s)' },
    writeZrwa: { ...writeZrwa, vsWriteSeq: +(writeZrwa.opsPerSec / writeSeq.opsPerSec).toFixed(2), description: 'checkWrite+commitWrite, 1 LBA, into ZRWA zones with implicit flushes, 1 overwrite in 8, RRL/FRL timers on (writes/s)' },
    writeChurn: { ...writeChurn, description: 'write() 1 LBA round-robin over 1024 zones, max open 14: implicit close every write (ops/s)' },
    manageCycle: {
      ...manage,
      cyclesPerSec: Math.round(manage.opsPerSec / 4),
      description: 'single-zone open/close/finish/reset commands (ops/s; 4 per cycle)',
    },
    report100k: { ...report, description: 'report() of a 100k-zone namespace (ms, median of 5)' },
    memory1M: { ...memory, description: 'heap+arrayBuffers delta for a 1,000,000-zone namespace' },
  },
  pass: memory.pass,
  elapsedSec: +elapsed.toFixed(1),
};

const fmt = (n) => n.toLocaleString('en-US');
const rows = [
  ['write.seq (checkWrite+commitWrite, 1 LBA)', `${fmt(writeSeq.opsPerSec)} ops/s`],
  ['write.zrwa (the same through a ZRWA, timers on)', `${fmt(writeZrwa.opsPerSec)} ops/s (${(writeZrwa.opsPerSec / writeSeq.opsPerSec).toFixed(2)}x write.seq)`],
  ['write.churn (write(), implicit close each op)', `${fmt(writeChurn.opsPerSec)} ops/s`],
  ['manage (open/close/finish/reset, 1 zone)', `${fmt(manage.opsPerSec)} ops/s (${fmt(Math.round(manage.opsPerSec / 4))} cycles/s)`],
  ['report() of 100k zones (median of 5)', `${report.medianMs} ms`],
  ['memory, 1M-zone namespace', `${memory.deltaMB} MB (${memory.bytesPerZone} B/zone) ${memory.pass ? 'PASS' : 'FAIL'} (< ${MEMORY_BUDGET_MB} MB)`],
];
const w = Math.max(...rows.map((r) => r[0].length));
process.stderr.write(`zonefuse engine benchmark (node ${process.version}, ${elapsed.toFixed(1)} s)\n`);
for (const [k, v] of rows) process.stderr.write(`  ${k.padEnd(w)}  ${v}\n`);
process.stdout.write(JSON.stringify(result) + '\n');
process.exitCode = memory.pass ? 0 : 1;
