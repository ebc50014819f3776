/**
 * Crash test of the persistent store (PRODUCT.md §1, §6): a worker process does acknowledged
 * zone operations and is killed with SIGKILL at a random moment; the store is then reopened
 * in-process and everything the worker acknowledged must be there.
 *
 * The worker (test/fixtures/crash-worker.mjs, running the dist build) prints an intent line
 * before each operation and an acknowledgement line after it, so the parent knows every
 * acknowledged operation and the at most one operation that was in flight when the kill
 * landed. The parent keeps an exact model of every sequential zone (write pointer, finished,
 * the writes since the last reset) across cycles; after each kill it checks:
 *  - reopening reports recoveredFromUncleanShutdown (once the worker had the store open);
 *  - every acknowledged write (and append) reads back with its pattern unless a later
 *    acknowledged reset of its zone happened;
 *  - every zone's write pointer equals the model's (so it is ≥ the highest acknowledged write
 *    end), and its state is what the ZNS power-up rules make of it: Full if acknowledged
 *    finished or filled, Empty if nothing is written, Closed otherwise — never open; the one
 *    operation in flight may or may not have happened, as a whole;
 *  - nothing is allocated in the data file above a write pointer, and reads there give zeros.
 * The store survives from cycle to cycle; the parent closes it cleanly or not at random, so
 * some workers start on a store that itself needs recovery.
 *
 * Reproduce a run: ZONEFUSE_CRASH_SEED=<seed printed by the test> npx vitest run <this file>.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Store, createNamespace } from '../../src/store/store.js';
import { StoredNamespace } from '../../src/store/stored-namespace.js';
import { ZoneState } from '../../src/engine/zone.js';
import { MiB } from '../../src/engine/geometry.js';
import { mulberry32, pattern } from '../helpers/prng.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const WORKER = path.join(ROOT, 'test/fixtures/crash-worker.mjs');
const CLI = path.join(ROOT, 'bin/zonefuse.js');
const NS = 'nvme0n1';

const CYCLES = Number(process.env.ZONEFUSE_CRASH_CYCLES ?? 40);
/**
 * A safety budget, well inside the test timeout: 40 cycles take ~20 s on a quiet 2-vCPU machine,
 * and a loaded one must still reach the 30 cycles the test requires.
 */
const LOOP_BUDGET_MS = 150_000;
const TEST_TIMEOUT_MS = 180_000;
const GEOMETRY = {
  capacity: 32 * MiB, zoneSize: 1 * MiB, zoneCapacity: 1 * MiB, lbaSize: 4096, convZones: 1,
  // The open limit makes writes close the oldest implicitly opened zone now and then (two
  // records change in one operation); with no active limit, no write is refused for resources.
  maxOpen: 8, maxActive: 0,
};

// ---------------------------------------------------------------------------------------------
// PRNG and data pattern: test/helpers/prng.mjs, shared with crash-worker.mjs



// ---------------------------------------------------------------------------------------------
// Worker protocol

interface Intent {
  n: number;
  op: 'write' | 'append' | 'finish' | 'reset' | 'flush';
  zone: number;
  lba?: number;
  nlb?: number;
  seed?: number;
}

interface WorkerRun {
  lines: string[];
  ready: boolean;
  signal: NodeJS.Signals | null;
  code: number | null;
  stderr: string;
  killAfterMs: number;
  fromSpawn: boolean;
}

/**
 * Run the worker and SIGKILL it `delayMs` after it reports ready (or after spawn, when
 * `fromSpawn`: a crash that may land during start-up). Returns the complete stdout lines.
 */
function runWorker(dir: string, seed: number, delayMs: number, fromSpawn: boolean): Promise<WorkerRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [WORKER, dir, String(seed), '8000'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let ready = false;
    let timer: NodeJS.Timeout | undefined;
    const arm = (): void => {
      timer = setTimeout(() => child.kill('SIGKILL'), delayMs);
    };
    if (fromSpawn) arm();
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      out += chunk;
      if (!ready && /^ready /m.test(out)) {
        ready = true;
        if (!fromSpawn) arm();
      }
    });
    child.stderr.on('data', (chunk: string) => {
      err += chunk;
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      // A line cut short by the kill (cannot happen with pipe writes < PIPE_BUF, but be safe)
      // is not an acknowledgement.
      const complete = out.slice(0, out.lastIndexOf('\n') + 1);
      resolve({
        lines: complete.split('\n').filter((l) => l.length > 0),
        ready: /^ready /m.test(complete),
        signal, code, stderr: err, killAfterMs: delayMs, fromSpawn,
      });
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Model

interface WriteRec {
  lba: number;
  nlb: number;
  seed: number;
  how: 'write' | 'append';
}

interface ZoneModel {
  wp: number;
  full: boolean;
  writes: WriteRec[];
}

interface Geo {
  zoneLbas: number;
  capLbas: number;
  conv: number;
  nrZones: number;
  lbaSize: number;
}

function zslba(g: Geo, z: number): number {
  return z * g.zoneLbas;
}

function expectedState(g: Geo, z: number, m: ZoneModel): ZoneState {
  if (m.full) return ZoneState.FULL;
  return m.wp === zslba(g, z) ? ZoneState.EMPTY : ZoneState.CLOSED;
}

/** The model after operation `op` (acknowledged, or in flight and found to have happened). */
function applied(g: Geo, z: number, m: ZoneModel, op: Intent, lba?: number): ZoneModel {
  switch (op.op) {
    case 'write':
    case 'append': {
      const at = lba ?? m.wp;
      const wp = at + op.nlb!;
      return {
        wp,
        full: m.full || wp === zslba(g, z) + g.capLbas,
        writes: [...m.writes, { lba: at, nlb: op.nlb!, seed: op.seed!, how: op.op }],
      };
    }
    case 'finish':
      return { ...m, full: true };
    case 'reset':
      return { wp: zslba(g, z), full: false, writes: [] };
    case 'flush':
      return m;
  }
}

interface Totals {
  cycles: number;
  killedDuringStartup: number;
  ackedOps: number;
  acked: Record<Intent['op'], number>;
  rejected: number;
  inFlight: number;
  inFlightHappened: number;
  writesVerified: number;
  zonesChecked: number;
  violations: string[];
}

// ---------------------------------------------------------------------------------------------

describe('persistent store under kill -9', () => {
  let root = '';
  let dir = '';
  let g: Geo;
  const model = new Map<number, ZoneModel>();
  const seed = process.env.ZONEFUSE_CRASH_SEED !== undefined
    ? Number(process.env.ZONEFUSE_CRASH_SEED) >>> 0
    : (Date.now() ^ (process.pid << 16)) >>> 0;

  beforeAll(() => {
    if (!fs.existsSync(path.join(ROOT, 'dist/store/store.js'))) {
      throw new Error('dist/ is missing: run `npm run build` first (the worker and the CLI run the build)');
    }
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'zonefuse-crash-'));
    dir = path.join(root, 'store');
    createNamespace(dir, GEOMETRY, { name: NS });
    const ns = StoredNamespace.open(dir, NS, { readOnly: true });
    const e = ns.engine;
    g = { zoneLbas: e.zoneLbas, capLbas: e.capLbas, conv: e.convZones, nrZones: e.nrZones, lbaSize: ns.lbaSize };
    ns.close();
    for (let z = g.conv; z < g.nrZones; z++) model.set(z, { wp: zslba(g, z), full: false, writes: [] });
  });

  afterAll(() => {
    if (root) fs.rmSync(root, { recursive: true, force: true });
  });

  it(`acknowledged operations survive SIGKILL at random moments (${CYCLES} cycles)`, async () => {
    console.log(`store-crash: seed=${seed} (rerun with ZONEFUSE_CRASH_SEED=${seed})`);
    const rand = mulberry32(seed);
    const t: Totals = {
      cycles: 0, killedDuringStartup: 0, ackedOps: 0,
      acked: { write: 0, append: 0, finish: 0, reset: 0, flush: 0 },
      rejected: 0, inFlight: 0, inFlightHappened: 0, writesVerified: 0, zonesChecked: 0, violations: [],
    };
    const violation = (cycle: number, msg: string): void => {
      t.violations.push(`cycle ${cycle}: ${msg}`);
    };
    let lastCloseClean = true; // createNamespace leaves a clean sidecar
    const started = Date.now();

    for (let cycle = 0; cycle < CYCLES && Date.now() - started < LOOP_BUDGET_MS; cycle++) {
      const workerSeed = Math.floor(rand() * 0x7fffffff);
      const delay = 10 + Math.floor(rand() * 141);
      // One cycle in six counts the delay from spawn, so the kill may land while the worker is
      // still starting up (opening, recovering, writing the header).
      const fromSpawn = rand() < 1 / 6;
      const run = await runWorker(dir, workerSeed, delay, fromSpawn);
      t.cycles++;
      if (run.signal !== 'SIGKILL') {
        throw new Error(`cycle ${cycle}: worker was not killed (exit ${run.code}, signal ${run.signal}): ${run.stderr}`);
      }
      if (!run.ready) t.killedDuringStartup++;

      // Replay the acknowledgements into the model.
      let pending: Intent | undefined;
      for (const line of run.lines) {
        if (line.startsWith('ready ')) continue;
        if (line.startsWith('I ')) {
          if (pending) violation(cycle, `worker issued op ${line} while op ${pending.n} was unanswered`);
          pending = JSON.parse(line.slice(2)) as Intent;
          continue;
        }
        const [kind, nStr, extra] = line.split(' ');
        if (!pending || Number(nStr) !== pending.n) {
          violation(cycle, `answer "${line}" does not match the pending intent ${JSON.stringify(pending)}`);
          pending = undefined;
          continue;
        }
        const op = pending;
        pending = undefined;
        if (kind === 'R') {
          t.rejected++;
          continue;
        }
        if (kind !== 'A') {
          violation(cycle, `unknown line "${line}"`);
          continue;
        }
        t.ackedOps++;
        t.acked[op.op]++;
        if (op.op === 'flush') continue;
        const m = model.get(op.zone)!;
        let lba: number | undefined;
        if (op.op === 'write' || op.op === 'append') {
          lba = op.op === 'append' ? Number(extra) : op.lba!;
          if (m.full) violation(cycle, `${op.op} ${op.n} to zone ${op.zone} acknowledged, but the zone is Full`);
          if (lba !== m.wp) violation(cycle, `${op.op} ${op.n} to zone ${op.zone} landed at LBA ${lba}, the acknowledged write pointer is ${m.wp}`);
        }
        model.set(op.zone, applied(g, op.zone, m, op, lba));
      }

      // Reopen in-process, as the next daemon would.
      const store = Store.open(dir);
      const ns = store.get(NS)!;
      const e = ns.engine;
      try {
        // Once the worker is ready it has cleared the CLEAN flag; a store the parent left unclean
        // stays unclean. Killed during start-up of a clean store: either answer is right.
        if ((run.ready || !lastCloseClean) && !ns.recoveredFromUncleanShutdown) {
          violation(cycle, `reopen does not report recoveredFromUncleanShutdown (worker ${run.ready ? 'was ready' : 'killed during start-up'})`);
        }

        // The operation in flight may have happened, as a whole, or not at all.
        if (pending && pending.op !== 'flush') {
          t.inFlight++;
          const z = pending.zone;
          const m = model.get(z)!;
          const after = applied(g, z, m, pending);
          const s = e.stateOf(z);
          const wp = e.wpOf(z);
          const same = (x: ZoneModel): boolean => s === expectedState(g, z, x) && wp === x.wp;
          // A write/append refused by the device (e.g. to a Full zone) would not change the model.
          if (!same(m)) {
            if (same(after) && !((pending.op === 'write' || pending.op === 'append') && m.full)) {
              model.set(z, after);
              t.inFlightHappened++;
            } else {
              violation(cycle, `zone ${z} is ${ZoneState[s]} wp ${wp}: neither before (${ZoneState[expectedState(g, z, m)]} wp ${m.wp}) ` +
                `nor after (${ZoneState[expectedState(g, z, after)]} wp ${after.wp}) the in-flight ${JSON.stringify(pending)}`);
            }
          }
        }

        const L = g.lbaSize;
        for (let z = g.conv; z < g.nrZones; z++) {
          t.zonesChecked++;
          const m = model.get(z)!;
          const s = e.stateOf(z);
          const wp = e.wpOf(z);
          const highest = m.writes.reduce((mx, w) => Math.max(mx, w.lba + w.nlb), zslba(g, z));
          if (wp < highest) violation(cycle, `zone ${z}: write pointer ${wp} is below the highest acknowledged write end ${highest}`);
          else if (wp !== m.wp) violation(cycle, `zone ${z}: write pointer ${wp}, acknowledged operations give ${m.wp}`);
          if (s === ZoneState.IMPLICIT_OPEN || s === ZoneState.EXPLICIT_OPEN) violation(cycle, `zone ${z} is ${ZoneState[s]} after start-up`);
          else if (s !== expectedState(g, z, m)) {
            violation(cycle, `zone ${z} is ${ZoneState[s]}, expected ${ZoneState[expectedState(g, z, m)]}` +
              (m.full ? ' (acknowledged finished or filled, not reset since)' : ''));
          }
          for (const w of m.writes) {
            const want = pattern(w.seed, w.nlb, L);
            const got = Buffer.alloc(want.length);
            const r = ns.read(w.lba * L, got, 0, got.length);
            if (typeof r !== 'number') violation(cycle, `zone ${z}: reading LBA ${w.lba}: ${r.status.name}`);
            else if (!got.equals(want)) {
              let bad = 0;
              while (bad < w.nlb && got.subarray(bad * L, (bad + 1) * L).equals(want.subarray(bad * L, (bad + 1) * L))) bad++;
              violation(cycle, `zone ${z}: acknowledged ${w.how} of ${w.nlb} LBAs at ${w.lba} (seed ${w.seed}): LBA ${w.lba + bad} does not hold its data`);
            }
            t.writesVerified++;
          }
          // Above the write pointer: nothing allocated (unacknowledged data was discarded),
          // and reads give zeros.
          const from = (zslba(g, z) + e.dataLbas(z)) * L;
          const end = (zslba(g, z) + g.zoneLbas) * L;
          if (from < end) {
            const ranges = ns.allocatedRanges(from, end);
            if (ranges.length > 0) violation(cycle, `zone ${z}: data allocated above the write pointer: ${JSON.stringify(ranges)}`);
            const n = Math.min(end - from, 8 * L);
            const buf = Buffer.alloc(n, 0xee);
            ns.read(from, buf, 0, n);
            if (buf.some((b) => b !== 0)) violation(cycle, `zone ${z}: reads above the write pointer are not zeros`);
          }
        }
      } finally {
        lastCloseClean = rand() < 0.5;
        if (!lastCloseClean) ns.close(false);
        store.close();
      }
    }

    const a = t.acked;
    console.log(
      `store-crash: seed=${seed} cycles=${t.cycles} (killed during start-up ${t.killedDuringStartup}) ` +
        `acknowledged_ops_checked=${t.ackedOps} (write ${a.write}, append ${a.append}, finish ${a.finish}, reset ${a.reset}, flush ${a.flush}) ` +
        `rejected=${t.rejected} in_flight=${t.inFlight} (happened ${t.inFlightHappened}) ` +
        `writes_verified=${t.writesVerified} zones_checked=${t.zonesChecked} violations=${t.violations.length} ` +
        `(${((Date.now() - started) / 1000).toFixed(1)} s)`,
    );
    for (const v of t.violations.slice(0, 20)) console.log(`  violation: ${v}`);
    expect(t.violations).toEqual([]);
    expect(t.cycles).toBeGreaterThanOrEqual(30);
    expect(t.ackedOps).toBeGreaterThan(0);
    expect(a.write + a.append).toBeGreaterThan(0);
    expect(t.writesVerified).toBeGreaterThan(0);
  }, TEST_TIMEOUT_MS);

  function cli(...args: string[]): { code: number | null; stdout: string; stderr: string } {
    const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  }

  it('zonefuse check passes on the store after the crash loop', () => {
    const r = cli('check', dir);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe(`checked 1 namespace, ${g.nrZones} zones: 0 errors\n`);
    expect(r.code).toBe(0);
  });

  it('check reports an unacknowledged write above a write pointer and --repair discards it', () => {
    const L = g.lbaSize;
    // A sequential zone with room above its write pointer (reset one if none has).
    let z = -1;
    for (let i = g.conv; i < g.nrZones && z < 0; i++) {
      const m = model.get(i)!;
      if (!m.full && m.wp - zslba(g, i) + 24 <= g.capLbas) z = i;
    }
    if (z < 0) {
      z = g.conv;
      const store = Store.open(dir);
      expect(store.get(NS)!.manage('reset', z)).toBeUndefined();
      store.close();
      model.set(z, { wp: zslba(g, z), full: false, writes: [] });
    }
    const m = model.get(z)!;
    const dataPath = path.join(dir, `${NS}.data`);
    const before = fs.statSync(dataPath).blocks;

    // What a daemon killed between its data write and its record update leaves behind.
    const junk = Buffer.alloc(16 * L, 0x5a);
    const fd = fs.openSync(dataPath, 'r+');
    fs.writeSync(fd, junk, 0, junk.length, (m.wp + 4) * L);
    fs.closeSync(fd);
    const injected = fs.statSync(dataPath).blocks;
    expect(injected).toBeGreaterThan(before);

    let r = cli('check', dir);
    expect(r.stdout).toContain(`error: ${NS}: ${dataPath}: zone ${z}: ${junk.length} bytes allocated above the write pointer (LBA ${m.wp}; zone starts at ${zslba(g, z)})\n`);
    expect(r.stdout).toMatch(/: 1 error\n$/);
    expect(r.code).toBe(1);

    r = cli('check', '--repair', dir);
    expect(r.stdout).toContain(`repaired: ${NS}: ${dataPath}: zone ${z}: discarded ${junk.length} bytes of unacknowledged data above the write pointer\n`);
    expect(r.stdout).toMatch(/: 0 errors, 1 repaired\n$/);
    expect(r.code).toBe(0);
    const after = fs.statSync(dataPath).blocks;
    expect(after).toBeLessThan(injected);
    expect(after).toBe(before);

    r = cli('check', dir);
    expect(r.stdout).toBe(`checked 1 namespace, ${g.nrZones} zones: 0 errors\n`);
    expect(r.code).toBe(0);

    // The acknowledged data of the zone is untouched, the write pointer too.
    const ns = StoredNamespace.open(dir, NS, { readOnly: true });
    try {
      expect(ns.engine.wpOf(z)).toBe(m.wp);
      for (const w of m.writes) {
        const got = Buffer.alloc(w.nlb * L);
        ns.read(w.lba * L, got, 0, got.length);
        expect(got.equals(pattern(w.seed, w.nlb, L))).toBe(true);
      }
      expect(ns.allocatedRanges((m.wp) * L, (zslba(g, z) + g.zoneLbas) * L)).toEqual([]);
    } finally {
      ns.close();
    }
  });
});
