/**
 * `zonefuse crashtest` (PRODUCT.md §13): run a workload on a copy of a store with the volatile
 * write cache on while the daemon records a trace, then check the FTL's recovery on every
 * chosen crash state.
 *
 * Checking a state costs a materialisation (see materialize.ts) and the check command, never a
 * daemon start: each job has one long-running daemon over its own slot store, and a state is
 * put in front of the check by swapping the slot's namespace files while the namespace is
 * detached, then attaching it through the mount's top-level `ctl` (as a user would hot-plug a
 * namespace). The check runs against a real mount, as it would against the real device.
 *
 * Work directory (default STORE.crashtest beside the store; kept for --materialize):
 *   run.json  what was run · copy/ the store the workload ran on (its final image) · trace/ ·
 *   slot-J/{store,mnt} · logs/ · report.json
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { LossPolicy, formatLossPolicy } from '../engine/loss-policy.js';
import { Store, listNamespaces } from '../store/store.js';
import { StoredNamespace } from '../store/stored-namespace.js';
import { DEFAULT_TRACE_LIMIT, TraceOp, dataHash, traceFiles } from '../store/trace.js';
import { findMount } from '../fuse/mounts.js';
import { readFully } from '../store/io.js';
import { CrashState, FINAL, Piece, Replayer, TraceError, TraceModel, parseStateId } from './model.js';
import { Candidate, Plan, planStates } from './explore.js';
import { CloneMethod, Materializer } from './materialize.js';
import { CrashtestDaemon } from './daemon.js';
import { CopyError, copyNamespace } from './copy.js';

/** Bad arguments, a workload that fails, a trace crashtest cannot use: exit status 2. */
export class CrashtestError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CrashtestError';
  }
}

export interface CrashtestOptions {
  store: string;
  ns?: string | undefined;
  workload: string;
  check: string;
  seed: number;
  maxStates: number;
  jobs: number;
  /** Seconds; stop starting new checks after this long. */
  timeLimit?: number | undefined;
  json?: string | undefined;
  work?: string | undefined;
  traceLimit?: number | undefined;
  /** Seconds one check may take. */
  checkTimeout?: number | undefined;
  /** FUSE backend of the daemons (`zonefuse mount --fuse`); default: mount's default. */
  fuse?: string | undefined;
  /** Force a materialisation method (tests, benchmark). */
  method?: CloneMethod | undefined;
  /** Progress lines (stderr). */
  progress?: NodeJS.WritableStream;
}

export interface StateResult {
  id: string;
  kind: string;
  point: number;
  policy: string;
  mark: string;
  marks: number;
  flushes: number;
  keptWrites: number;
  lostWrites: number;
  ok: boolean;
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  /** The check's stdout and stderr (the end of it when long). */
  output: string;
  ms: { materialize: number; attach: number; check: number; detach: number };
  bytesWritten: number;
}

export interface CrashtestReport {
  version: 1;
  store: string;
  namespace: string;
  work: string;
  workload: string;
  check: string;
  seed: number;
  jobs: number;
  maxStates: number;
  timeLimit: number | null;
  trace: TraceModel['summary'] & { limit: number; dir: string; verifiedWrites: number };
  materialize: { method: CloneMethod; bytesPerState: number; msPerState: number };
  states: { planned: number; checked: number; passed: number; failed: number; notRun: number; boundaries: number; sampled: number; duplicates: number; boundariesLeftOut: number };
  seconds: number;
  statesPerSecond: number;
  results: StateResult[];
}

const RUN_FILE = 'run.json';
const OUTPUT_KEEP = 4096;

export function defaultWorkDir(store: string): string {
  return path.resolve(store) + '.crashtest';
}

function pickNamespace(store: string, ns: string | undefined): string {
  let names: string[];
  try {
    names = listNamespaces(store);
  } catch (e) {
    throw new CrashtestError((e as Error).message);
  }
  if (ns !== undefined) {
    if (!names.includes(ns)) throw new CrashtestError(`store ${store} has no namespace ${ns} (it has: ${names.join(', ') || 'none'})`);
    return ns;
  }
  if (names.length === 1) return names[0]!;
  if (names.length === 0) throw new CrashtestError(`store ${store} has no namespaces`);
  throw new CrashtestError(`store ${store} has several namespaces (${names.join(', ')}): choose one with --ns`);
}

/** Namespace features whose device-side behaviour the trace does not capture yet. */
function refuseUnmodelled(store: string, name: string): void {
  let g;
  try {
    g = StoredNamespace.peekHeader(store, name).geometry;
  } catch (e) {
    throw new CrashtestError((e as Error).message);
  }
  const what = [g.zrwas ? 'a ZRWA (--zrwas)' : '', g.rrl || g.frl ? 'reset/finish recommended limits (--rrl/--frl)' : ''].filter(Boolean);
  if (what.length > 0) throw new CrashtestError(`namespace ${name} has ${what.join(' and ')}: crashtest does not model that yet`);
}

/** A fresh work directory: an old crashtest one is replaced, anything else is refused. */
function prepareWorkDir(work: string): void {
  if (fs.existsSync(work)) {
    const entries = fs.readdirSync(work);
    if (entries.length > 0 && !entries.includes(RUN_FILE)) {
      throw new CrashtestError(`${work} exists and is not a crashtest work directory (no ${RUN_FILE}): choose another with --work`);
    }
    for (const e of entries) {
      const m = path.join(work, e, 'mnt');
      if (findMount(m)) throw new CrashtestError(`${m} is still mounted (another crashtest running on this store?)`);
    }
    if (findMount(path.join(work, 'mnt'))) throw new CrashtestError(`${path.join(work, 'mnt')} is still mounted`);
    fs.rmSync(work, { recursive: true, force: true });
  }
  fs.mkdirSync(path.join(work, 'logs'), { recursive: true });
}

interface Spawned {
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  output: string;
}

/** Run `sh -c cmd` (its own process group, killed whole on timeout); keep the end of its output. */
function runShell(cmd: string, env: NodeJS.ProcessEnv, timeoutMs: number, logFd?: number): Promise<Spawned> {
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', cmd], { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let out = '';
    const keep = (chunk: Buffer): void => {
      if (logFd !== undefined) fs.writeSync(logFd, chunk);
      out += chunk.toString('utf8');
      if (out.length > 2 * OUTPUT_KEEP) out = out.slice(-OUTPUT_KEEP);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
    }, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ exitCode: code, signal, timedOut, output: out.length > OUTPUT_KEEP ? '…' + out.slice(-OUTPUT_KEEP) : out });
    });
  });
}

async function ctl(mnt: string, line: string): Promise<void> {
  try {
    await fs.promises.writeFile(path.join(mnt, 'ctl'), line + '\n');
  } catch (e) {
    let why = '';
    try {
      why = (await fs.promises.readFile(path.join(mnt, 'errors'), 'utf8')).trimEnd().split('\n').pop() ?? '';
    } catch {
      // no explanation
    }
    throw new Error(`"${line}" was refused by the daemon at ${mnt}: ${(e as NodeJS.ErrnoException).code ?? e}${why ? ` (${why})` : ''}`);
  }
}

/**
 * Check each written range the final image still holds against the hash in the trace (a
 * trace that does not match its image would give wrong states). Returns how many were checked.
 */
function verifyTrace(model: TraceModel, finalImage: string): number {
  const fd = fs.openSync(finalImage, 'r');
  let checked = 0;
  try {
    model.ops.forEach((r, i) => {
      if (r.hash === '') return;
      const lba = model.lbaSize;
      const [a, len] = r.op === TraceOp.CONV_WRITE ? [r.pos, r.count] : [r.pos * lba, r.count * lba];
      const pieces: Piece[] = [];
      model.contentAt(i + 1, a, a + len, pieces);
      if (pieces.length !== 1 || pieces[0]!.src !== FINAL || pieces[0]!.length !== len) return;
      const buf = Buffer.alloc(len);
      readFully(fd, buf, 0, len, a);
      if (dataHash(buf) !== r.hash) {
        throw new CrashtestError(`the trace does not match the final image: operation ${i} wrote other data at byte ${a} than the image holds`);
      }
      checked++;
    });
  } finally {
    fs.closeSync(fd);
  }
  return checked;
}

function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return '?';
  if (s < 60) return `${Math.round(s)}s`;
  return `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s`;
}

/** The run: copy, workload with trace, plan, check every state. */
export async function runCrashtest(o: CrashtestOptions): Promise<CrashtestReport> {
  const progress = o.progress ?? process.stderr;
  const say = (line: string): void => void progress.write(`crashtest: ${line}\n`);
  const store = path.resolve(o.store);
  if (!fs.existsSync(store)) throw new CrashtestError(`store ${store} does not exist`);
  const name = pickNamespace(store, o.ns);
  refuseUnmodelled(store, name);
  const work = path.resolve(o.work ?? defaultWorkDir(store));
  if (work === store || work.startsWith(store + path.sep)) throw new CrashtestError(`the work directory ${work} must be outside the store`);
  const jobs = Math.max(1, o.jobs);
  const traceLimit = o.traceLimit ?? DEFAULT_TRACE_LIMIT;
  const checkTimeoutMs = (o.checkTimeout ?? 120) * 1000;
  prepareWorkDir(work);
  fs.writeFileSync(path.join(work, RUN_FILE), JSON.stringify({ store, namespace: name, workload: o.workload, check: o.check, seed: o.seed, started: new Date().toISOString() }, null, 2) + '\n');

  // 1. The copy, with the volatile write cache on.
  const copy = path.join(work, 'copy');
  try {
    copyNamespace(store, name, copy);
    const s = Store.open(copy, { command: 'zonefuse crashtest (cache on)' });
    try {
      const ns = s.get(name);
      if (!ns) throw new CrashtestError(`namespace ${name} of ${store} is detached: attach it first (zonefuse ns attach)`);
      ns.setVolatileCache(true);
    } finally {
      s.close();
    }
  } catch (e) {
    if (e instanceof CopyError || e instanceof CrashtestError) throw new CrashtestError(e.message);
    throw new CrashtestError(`cannot use store ${store}: ${(e as Error).message}`);
  }

  // 2. The workload, on a traced mount.
  const traceDir = path.join(work, 'trace');
  const mntW = path.join(work, 'mnt');
  const fuseArgs = o.fuse ? ['--fuse', o.fuse] : [];
  const wd = new CrashtestDaemon(copy, mntW, path.join(work, 'logs', 'workload-daemon.log'), ['--trace', traceDir, '--trace-limit', String(traceLimit), ...fuseArgs]);
  const t0 = Date.now();
  try {
    await wd.start();
    say(`running the workload on a copy of ${store} (namespace ${name}, volatile write cache on) at ${mntW}`);
    const logFd = fs.openSync(path.join(work, 'logs', 'workload.log'), 'w');
    let r: Spawned;
    try {
      r = await runShell(o.workload, { ...process.env, ZONEFUSE_MNT: mntW, ZONEFUSE_NS: path.join(mntW, name), ZONEFUSE_STORE: copy }, 24 * 3600 * 1000, logFd);
    } finally {
      fs.closeSync(logFd);
    }
    if (r.exitCode !== 0) {
      throw new CrashtestError(`the workload failed (${r.signal ? `signal ${r.signal}` : `exit status ${r.exitCode}`}): ${r.output.trim().split('\n').slice(-5).join(' | ') || 'no output'}`);
    }
  } finally {
    try {
      await wd.stop();
    } catch (e) {
      wd.kill();
      // eslint-disable-next-line no-unsafe-finally
      throw new CrashtestError(`the workload's daemon: ${(e as Error).message}`);
    }
  }
  const workloadSeconds = (Date.now() - t0) / 1000;

  // 3. The trace and the plan.
  let model: TraceModel;
  let plan: Plan;
  let verified: number;
  const finalImage = path.join(copy, `${name}.data`);
  try {
    model = new TraceModel(traceFiles(traceDir, name), name, path.join(work, 'replay'));
    verified = verifyTrace(model, finalImage);
    plan = planStates(model, { seed: o.seed, maxStates: o.maxStates });
  } catch (e) {
    if (e instanceof TraceError || e instanceof CrashtestError) throw new CrashtestError(e.message);
    throw e;
  }
  const s = model.summary;
  say(`workload done in ${workloadSeconds.toFixed(1)} s: ${s.ops} device operations (${s.writes} writes, ${s.appends} appends, ` +
    `${s.convWrites} conventional writes, ${s.flushes} flushes, ${s.zoneCommands} zone commands, ${s.marks} marks); ` +
    `trace ${formatBytes(s.traceBytes)} + ${formatBytes(s.savedBytes)} of saved data (limit ${formatBytes(traceLimit)})`);
  say(`${plan.chosen.length} crash states to check (${plan.boundaries} flush boundaries${plan.boundariesLeftOut ? `, ${plan.boundariesLeftOut} more left out by --max-states` : ''}, ` +
    `${plan.sampled} sampled; ${plan.duplicates} duplicates skipped), seed ${o.seed}, ${jobs} job${jobs === 1 ? '' : 's'}`);

  // 4. Check every state.
  const mat = new Materializer(model, finalImage, work, o.method);
  const results: StateResult[] = [];
  const slots: Array<{ store: string; mnt: string; daemon: CrashtestDaemon }> = [];
  const started = Date.now();
  let failed = 0;
  let progressTimer: NodeJS.Timeout | undefined;
  const total = plan.chosen.length;
  const tty = (progress as NodeJS.WriteStream).isTTY === true;
  const showProgress = (final = false): void => {
    const done = results.length;
    const el = (Date.now() - started) / 1000;
    const rate = el > 0 ? done / el : 0;
    const eta = rate > 0 ? (total - done) / rate : Infinity;
    const line = `crashtest: ${done}/${total} states checked, ${failed} failed, ${rate.toFixed(1)} states/s, ` +
      (final ? `${el.toFixed(1)} s` : `ETA ${formatSeconds(eta)}`);
    progress.write(tty ? `\r${line}\x1b[K${final ? '\n' : ''}` : `${line}\n`);
  };
  try {
    const groups = [plan.chosen.filter((c) => c.kind === 'boundary'), plan.chosen.filter((c) => c.kind !== 'boundary')];
    const replayers = groups.map(() => new Replayer(model));
    const cursor = [0, 0];
    const next = (): { c: Candidate; state: CrashState } | undefined => {
      for (let g = 0; g < groups.length; g++) {
        const c = groups[g]![cursor[g]!];
        if (!c) continue;
        cursor[g]!++;
        const r = replayers[g]!;
        r.advanceTo(c.point);
        return { c, state: r.capture(c.policy, c.kind) };
      }
      return undefined;
    };

    // Each slot starts with the initial state in place (detached), so its daemon has a namespace.
    const first = new Replayer(model).capture({ kind: 'none' }, 'boundary');
    for (let j = 0; j < Math.min(jobs, Math.max(1, total)); j++) {
      const dir = path.join(work, `slot-${j}`);
      const slot = { store: path.join(dir, 'store'), mnt: path.join(dir, 'mnt'), daemon: undefined as unknown as CrashtestDaemon };
      fs.mkdirSync(slot.store, { recursive: true });
      mat.write(first, slot.store, name, { detached: true });
      slot.daemon = new CrashtestDaemon(slot.store, slot.mnt, path.join(work, 'logs', `slot-${j}-daemon.log`), fuseArgs);
      slots.push(slot);
    }
    await Promise.all(slots.map((sl) => sl.daemon.start()));
    progressTimer = setInterval(() => showProgress(), tty ? 250 : 2000);
    const deadline = o.timeLimit !== undefined ? started + o.timeLimit * 1000 : Infinity;

    const worker = async (slot: (typeof slots)[number]): Promise<void> => {
      for (;;) {
        if (Date.now() >= deadline) return;
        const t = { a: Date.now(), b: 0, c: 0, d: 0, e: 0 };
        const item = next();
        if (!item) return;
        const { c, state } = item;
        const st = mat.write(state, slot.store, name, { detached: true });
        t.b = Date.now();
        await ctl(slot.mnt, `attach ${name}`);
        t.c = Date.now();
        const env = {
          ...process.env,
          ZONEFUSE_MNT: slot.mnt, ZONEFUSE_NS: path.join(slot.mnt, name), ZONEFUSE_STORE: slot.store,
          ZONEFUSE_CRASH_STATE: state.id, ZONEFUSE_CRASH_POINT: String(state.point), ZONEFUSE_CRASH_OPS: String(model.ops.length),
          ZONEFUSE_CRASH_MARK: state.mark, ZONEFUSE_CRASH_MARKS: String(state.marks), ZONEFUSE_CRASH_FLUSHES: String(state.flushes),
        };
        const r = await runShell(o.check, env, checkTimeoutMs);
        t.d = Date.now();
        if (!slot.daemon.running) throw new Error(`the daemon serving ${slot.mnt} died during the check of state ${state.id}: ${slot.daemon.logTail()}`);
        await ctl(slot.mnt, `detach ${name}`);
        t.e = Date.now();
        const ok = r.exitCode === 0 && !r.timedOut;
        if (!ok) failed++;
        results.push({
          id: state.id, kind: c.kind, point: state.point, policy: formatLossPolicy(state.policy as LossPolicy), mark: state.mark, marks: state.marks,
          flushes: state.flushes, keptWrites: state.kept, lostWrites: state.lost, ok, exitCode: r.exitCode, signal: r.signal, timedOut: r.timedOut,
          output: r.output, ms: { materialize: t.b - t.a, attach: t.c - t.b, check: t.d - t.c, detach: t.e - t.d }, bytesWritten: st.bytesWritten,
        });
      }
    };
    await Promise.all(slots.map((sl) => worker(sl)));
  } finally {
    if (progressTimer) clearInterval(progressTimer);
    mat.close();
    const stops = await Promise.allSettled(slots.map((sl) => sl.daemon.stop()));
    for (const sl of slots) sl.daemon.kill();
    const bad = stops.find((x) => x.status === 'rejected');
    if (bad && bad.status === 'rejected') say(`warning: ${(bad.reason as Error).message}`);
  }
  showProgress(true);

  const seconds = (Date.now() - started) / 1000;
  const order = new Map(plan.chosen.map((c, i) => [c.id, i]));
  results.sort((a, b) => order.get(a.id)! - order.get(b.id)!);
  const avg = (f: (r: StateResult) => number): number => (results.length ? results.reduce((n, r) => n + f(r), 0) / results.length : 0);
  const report: CrashtestReport = {
    version: 1, store, namespace: name, work, workload: o.workload, check: o.check, seed: o.seed, jobs, maxStates: o.maxStates,
    timeLimit: o.timeLimit ?? null,
    trace: { ...model.summary, limit: traceLimit, dir: traceDir, verifiedWrites: verified },
    materialize: { method: mat.method, bytesPerState: Math.round(avg((r) => r.bytesWritten)), msPerState: Number(avg((r) => r.ms.materialize).toFixed(2)) },
    states: {
      planned: total, checked: results.length, passed: results.filter((r) => r.ok).length, failed, notRun: total - results.length,
      boundaries: plan.boundaries, sampled: plan.sampled, duplicates: plan.duplicates, boundariesLeftOut: plan.boundariesLeftOut,
    },
    seconds: Number(seconds.toFixed(3)),
    statesPerSecond: Number((seconds > 0 ? results.length / seconds : 0).toFixed(2)),
    results,
  };
  const json = JSON.stringify(report, null, 2) + '\n';
  fs.writeFileSync(path.join(work, 'report.json'), json);
  if (o.json) fs.writeFileSync(path.resolve(o.json), json);
  return report;
}

/** The summary table printed at the end of a run. */
export function formatReport(r: CrashtestReport): string {
  const t = r.trace;
  const s = r.states;
  const lines = [
    `zonefuse crashtest of ${r.store} (namespace ${r.namespace}), seed ${r.seed}`,
    `workload   ${t.ops} device operations: ${t.writes} writes, ${t.appends} appends, ${t.convWrites} conventional writes, ${t.flushes} flushes, ${t.zoneCommands} zone commands, ${t.marks} marks; ${formatBytes(t.bytesWritten)} written`,
    `trace      ${formatBytes(t.traceBytes)} of records + ${formatBytes(t.savedBytes)} of saved data: pre-images, labels (limit ${formatBytes(t.limit)}); ${t.verifiedWrites} writes verified against the final image`,
    `states     ${s.checked} checked of ${s.planned} planned (${s.boundaries} flush boundaries, ${s.sampled} sampled; ${s.duplicates} duplicates skipped` +
      `${s.boundariesLeftOut ? `; ${s.boundariesLeftOut} boundaries left out by --max-states` : ''})${s.notRun ? `; ${s.notRun} not run (time limit)` : ''}`,
    `materialise ${r.materialize.method === 'reflink' ? 'reflink clone of the final image' : 'sparse copy (no reflink on this file system)'}: ` +
      `${formatBytes(r.materialize.bytesPerState)} written and ${r.materialize.msPerState} ms per state on average`,
    `time       ${r.seconds.toFixed(1)} s, ${r.statesPerSecond} states/s with ${r.jobs} job${r.jobs === 1 ? '' : 's'}`,
    `result     ${s.failed === 0 ? `all ${s.checked} states passed` : `${s.failed} of ${s.checked} states FAILED`}`,
  ];
  const failedStates = r.results.filter((x) => !x.ok);
  if (failedStates.length > 0) {
    const rows = failedStates.map((x) => [x.id, x.kind, `${x.point}/${t.ops}`, x.mark || '-',
      (x.timedOut ? 'timed out' : x.signal ? `signal ${x.signal}` : `exit ${x.exitCode}`) + ': ' + (x.output.trim().split('\n').pop() ?? '').slice(0, 100)]);
    const head = ['state', 'kind', 'point', 'mark', 'check'];
    const width = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
    lines.push('', head.map((h, i) => (i < 4 ? h.padEnd(width[i]!) : h)).join('  '));
    for (const row of rows) lines.push(row.map((c, i) => (i < 4 ? c.padEnd(width[i]!) : c)).join('  '));
    lines.push('', `reproduce one: zonefuse crashtest ${r.store} --materialize ${failedStates[0]!.id} DIR${r.work !== defaultWorkDir(r.store) ? ` --work ${r.work}` : ''}`);
  }
  lines.push(`report     ${path.join(r.work, 'report.json')}`);
  return lines.join('\n') + '\n';
}

export interface MaterializeResult {
  state: CrashState;
  dir: string;
  namespace: string;
  ops: number;
}

/** `--materialize ID DIR`: rebuild one state of the last run as a store in DIR. */
export function materializeState(o: { store: string; work?: string | undefined; id: string; dir: string; method?: CloneMethod }): MaterializeResult {
  const store = path.resolve(o.store);
  const work = path.resolve(o.work ?? defaultWorkDir(store));
  let run: { store: string; namespace: string };
  try {
    run = JSON.parse(fs.readFileSync(path.join(work, RUN_FILE), 'utf8')) as typeof run;
  } catch {
    throw new CrashtestError(`no crashtest run of ${store} to materialise from (${path.join(work, RUN_FILE)} is missing): run crashtest first${o.work ? '' : ' (or give its --work)'}`);
  }
  if (run.store !== store) throw new CrashtestError(`${work} holds a run of ${run.store}, not of ${store}`);
  const name = run.namespace;
  const dir = path.resolve(o.dir);
  if (fs.existsSync(path.join(dir, `${name}.zmeta`))) throw new CrashtestError(`${dir} already holds a namespace ${name}: choose an empty directory`);
  let id;
  try {
    id = parseStateId(o.id);
    const model = new TraceModel(traceFiles(path.join(work, 'trace'), name), name, path.join(work, 'replay'));
    const r = new Replayer(model);
    r.advanceTo(id.point);
    const state = r.capture(id.policy, 'requested');
    fs.mkdirSync(dir, { recursive: true });
    const mat = new Materializer(model, path.join(work, 'copy', `${name}.data`), dir, o.method);
    try {
      mat.write(state, dir, name);
    } finally {
      mat.close();
    }
    return { state, dir, namespace: name, ops: model.ops.length };
  } catch (e) {
    if (e instanceof TraceError) throw new CrashtestError(e.message);
    throw e;
  }
}

export const DEFAULT_JOBS = Math.max(1, Math.min(4, os.availableParallelism()));
