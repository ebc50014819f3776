/**
 * Randomized soak (issue 14): several worker processes (test/fixtures/soak-worker.mjs) write to
 * many zones of two namespaces through the mount (namespace file O_DIRECT, zone files buffered,
 * zone appends), manage zones through `ctl`, the CLI and truncate, while this test, between
 * epochs, power-cycles the device (volatile cache on for nvme0n1, off for nvme0n2), detaches and
 * attaches a namespace, restarts the daemon cleanly or kills it with SIGKILL at a random moment,
 * and fills or frees the small tmpfs the store lives on (so writes also run out of space).
 *
 * An independent model (below; it shares nothing with the engine) follows every acknowledged
 * operation and, after every epoch, checks every zone's write pointer and state against the
 * device's report and every acknowledged byte against what reads back. What a crash or power loss
 * may take is exactly what the product allows: with the cache on, writes since the zone's last
 * flush or zone management command; the one operation per worker in flight at a SIGKILL may or
 * may not have happened (a write: any whole-LBA prefix of it).
 *
 * Time-bounded: ZONEFUSE_SOAK_SECONDS (default 60; `npm test` runs it once per FUSE backend).
 * Replay: ZONEFUSE_SOAK_SEED=<printed seed> (the workers' timing still varies from run to run).
 * Post-mortem: ZONEFUSE_SOAK_DEBUG=1 logs every daemon write (debug level) and keeps every
 * worker's protocol lines in /tmp/soak-debug-SEED/; the daemon's log is kept on any violation.
 * Needs root (tmpfs).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ChildProcess, spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { CLI, ROOT, TEST_FUSE, cli, waitFor } from '../helpers/mount.js';
import { mulberry32, pattern } from '../helpers/prng.mjs';
import { isRoot, withTmpfs } from '../helpers/tmpfs.js';

const SECONDS = Number(process.env.ZONEFUSE_SOAK_SECONDS ?? 60);
const SEED = Number(process.env.ZONEFUSE_SOAK_SEED ?? Math.floor(Math.random() * 2 ** 31));
const WORKER = path.join(ROOT, 'test/fixtures/soak-worker.mjs');
const WORKERS = 3;
const LBA = 4096;
const MiB = 1024 * 1024;
const ZONE = 4 * MiB;
const NAMESPACES = [
  { ns: 'nvme0n1', size: 64 * MiB, conv: 1, cache: true },
  { ns: 'nvme0n2', size: 32 * MiB, conv: 0, cache: false },
];

type State = 'em' | 'oi' | 'oe' | 'cl' | 'fu';
const REPORT_STATE: Record<string, State> = { EMPTY: 'em', IMP_OPENED: 'oi', EXP_OPENED: 'oe', CLOSED: 'cl', FULL: 'fu' };

/** An acknowledged write: `data` is its pattern (kept, so checks need not compute it again). */
interface Chunk { off: number; len: number; seed: number; data?: Buffer }
interface Zone {
  ns: string; zone: number; cache: boolean;
  /** Bytes written (zone-relative write pointer; where the data ends, also for a finished zone). */
  wp: number;
  state: State;
  /** What a power loss keeps: [lo, hi] (a flush by another worker makes it uncertain). */
  durLo: number; durHi: number;
  chunks: Chunk[];
}
interface Intent { n: number; op: string; ns: string; zone: number; off?: number; nlb?: number; seed?: number; verb?: string; tail?: number }
/** The one operation per worker whose effect a SIGKILL left open. */
interface Pending { intent: Intent; bytes: number }

const key = (ns: string, z: number): string => `${ns}/${z}`;

class Model {
  readonly zones = new Map<string, Zone>();
  readonly violations: string[] = [];
  ops = 0;
  /** The epoch being checked (named in violations). */
  epoch = 0;
  refused = 0;
  enospc = 0;

  constructor() {
    for (const n of NAMESPACES) {
      for (let z = n.conv; z < n.size / ZONE; z++) {
        this.zones.set(key(n.ns, z), { ns: n.ns, zone: z, cache: n.cache, wp: 0, state: 'em', durLo: 0, durHi: 0, chunks: [] });
      }
    }
  }

  violation(msg: string): void {
    if (this.violations.length < 50) this.violations.push(msg);
  }

  /** Apply one acknowledged (or refused) operation of a worker that owns its zone. */
  apply(i: Intent, ok: boolean, bytes: number, errno: string): void {
    this.ops++;
    if (!ok) {
      this.refused++;
      if (errno === 'ENOSPC') this.enospc++;
    }
    const z = this.zones.get(key(i.ns, i.zone))!;
    if (i.op === 'stat') return;
    if (i.op === 'dwrite' || i.op === 'bwrite' || i.op === 'append') {
      if (bytes === 0) return;
      const off = i.op === 'append' ? z.wp : i.off!;
      if (off !== z.wp && i.op !== 'append') this.violation(`${key(i.ns, i.zone)}: op ${i.n} wrote at ${off}, the model's write pointer is ${z.wp}`);
      if (bytes % LBA !== 0) this.violation(`${key(i.ns, i.zone)}: op ${i.n} acknowledged ${bytes} bytes, not whole LBAs`);
      if (z.state === 'fu') this.violation(`${key(i.ns, i.zone)}: op ${i.n} wrote ${bytes} bytes into a Full zone`);
      const data = pattern(i.seed!, bytes / LBA, LBA);
      if (i.tail) data.fill(0, bytes - LBA + i.tail);
      z.chunks.push({ off: z.wp, len: bytes, seed: i.seed!, data });
      z.wp += bytes;
      if (!z.cache) z.durLo = z.durHi = z.wp;
      z.state = z.wp === ZONE ? 'fu' : z.state === 'oe' ? 'oe' : 'oi';
      return;
    }
    if (i.op === 'fsync') {
      if (!ok) return;
      for (const o of this.zones.values()) {
        if (o.ns !== i.ns) continue;
        // The worker's own zones: everything it was told before is durable. Others: maybe.
        o.durHi = o.wp;
        if (o === z) o.durLo = o.wp;
      }
      return;
    }
    const verb = i.verb!;
    const expect = this.transition(z, verb);
    if (expect === 'refuse') {
      if (ok) this.violation(`${key(i.ns, i.zone)}: ${verb} of a ${z.state} zone was accepted (op ${i.n})`);
      return;
    }
    if (!ok) {
      if (errno !== 'ENOSPC') this.violation(`${key(i.ns, i.zone)}: ${verb} of a ${z.state} zone refused with ${errno} (op ${i.n})`);
      return;
    }
    this.manage(z, verb);
  }

  /** What zone management does to the model; 'refuse' where ZNS refuses it. */
  transition(z: Zone, verb: string): State | 'refuse' {
    switch (verb) {
      case 'reset': return 'em';
      case 'finish': return 'fu';
      case 'open': return z.state === 'fu' ? 'refuse' : 'oe';
      default: // close
        if (z.state === 'oi' || z.state === 'oe') return 'cl';
        return z.state === 'cl' ? 'cl' : 'refuse';
    }
  }

  manage(z: Zone, verb: string): void {
    const s = this.transition(z, verb) as State;
    if (verb === 'reset') {
      z.wp = 0;
      z.chunks = [];
    }
    z.state = s;
    z.durLo = z.durHi = z.wp; // zone management is durable and makes the zone's writes durable
  }
}

interface Daemon { proc?: ChildProcess; exited: boolean; log: string }

async function startDaemon(store: string, mnt: string, logFile: string): Promise<Daemon> {
  const log = fs.openSync(logFile, 'a');
  const fuse = TEST_FUSE ? ['--fuse', TEST_FUSE] : [];
  const proc = spawn(process.execPath, [CLI, 'mount', store, mnt, '--log-level', process.env.ZONEFUSE_SOAK_DEBUG ? 'debug' : 'info', ...fuse], { stdio: ['ignore', 'ignore', log] });
  fs.closeSync(log);
  const d: Daemon = { proc, exited: false, log: logFile };
  proc.on('exit', () => (d.exited = true));
  const mounted = (): boolean => fs.readFileSync('/proc/mounts', 'utf8').split('\n').some((l) => l.split(' ')[1] === mnt);
  await waitFor(() => d.exited || (mounted() && fs.existsSync(path.join(mnt, 'nvme0n2'))), 'the soak mount', 30_000);
  if (d.exited) throw new Error(`daemon exited: ${fs.readFileSync(logFile, 'utf8').slice(-2000)}`);
  return d;
}

async function stopDaemon(d: Daemon, mnt: string, signal: NodeJS.Signals): Promise<void> {
  if (d.exited) return;
  d.proc!.kill(signal);
  await waitFor(() => d.exited, 'daemon exit', 30_000);
  const mounted = (): boolean => fs.readFileSync('/proc/mounts', 'utf8').split('\n').some((l) => l.split(' ')[1] === mnt);
  await waitFor(() => !mounted(), 'unmount', 30_000).catch(() => spawn('fusermount', ['-u', '-z', mnt]));
  await waitFor(() => !mounted(), 'unmount', 10_000);
}

interface Worker { proc: ChildProcess; lines: string[]; buf: string; done: Promise<void> }

function killGroup(w: Worker): void {
  try {
    process.kill(-w.proc.pid!, 'SIGKILL');
  } catch {
    // the group is gone already
  }
}

function startWorker(mnt: string, seed: number, owned: Zone[]): Worker {
  const zones = owned.map((z) => ({ ns: z.ns, zone: z.zone, zoneBytes: ZONE, cap: ZONE }));
  // Its own process group: a SIGKILL must also take the CLI child it may be running, or that
  // child would carry its zone command to the next daemon, after the model was checked.
  const proc = spawn(process.execPath, [WORKER, mnt, CLI, String(seed), JSON.stringify(zones)], { stdio: ['pipe', 'pipe', 'inherit'], detached: true });
  const w: Worker = { proc, lines: [], buf: '', done: Promise.resolve() };
  proc.stdout!.setEncoding('utf8');
  proc.stdout!.on('data', (d: string) => {
    w.buf += d;
    const cut = w.buf.lastIndexOf('\n');
    if (cut >= 0) {
      w.lines.push(...w.buf.slice(0, cut).split('\n').filter(Boolean));
      w.buf = w.buf.slice(cut + 1);
    }
  });
  w.done = new Promise((resolve) => proc.on('close', () => resolve()));
  return w;
}

/** Feed a worker's lines to the model; returns the operation a crash left open, if any. */
function consume(m: Model, w: Worker, crashed: boolean): Pending | undefined {
  if (process.env.ZONEFUSE_SOAK_DEBUG) {
    const d = `/tmp/soak-debug-${SEED}`;
    fs.mkdirSync(d, { recursive: true });
    fs.writeFileSync(`${d}/epoch-${m.epoch}-pid-${w.proc.pid}.txt`, w.lines.join('\n') + '\n');
  }
  let open: Intent | undefined;
  let pending: Pending | undefined;
  for (const line of w.lines) {
    if (line === 'ready') continue;
    if (line.startsWith('I ')) {
      open = JSON.parse(line.slice(2)) as Intent;
      continue;
    }
    const [tag, , errnoOrBytes, maybeBytes] = line.split(' ');
    const ok = tag === 'A';
    const bytes = Number(ok ? errnoOrBytes : maybeBytes);
    // A: the last LBA holds only `tail` bytes of the write, zero-padded when its handle closed.
    if (ok && Number(maybeBytes ?? 0) > 0) open = open && { ...open, tail: Number(maybeBytes) };
    const errno = ok ? '' : errnoOrBytes!;
    if (!open) continue;
    // After the daemon died, the first failure with a lost connection may have taken effect.
    const lost = !ok && /ENOTCONN|ECONNABORTED|ENOENT/.test(errno);
    // ... and nothing succeeds after it: else the mount answered as if gone while it served.
    if (lost && !crashed) m.violation(`${key(open.ns, open.zone)}: op ${open.n} (${open.op}) failed with ${errno} while the daemon served`);
    if (ok && pending) m.violation(`${key(open.ns, open.zone)}: op ${open.n} succeeded after op ${pending.intent.n} failed with a lost connection`);
    if (crashed && lost) {
      if (!pending) pending = { intent: open, bytes };
      open = undefined;
      continue;
    }
    if (!(crashed && pending)) m.apply(open, ok, bytes, errno);
    open = undefined;
  }
  if (crashed && open && !pending) pending = { intent: open, bytes: 0 };
  return pending;
}

type Event = 'kill9' | 'power-cycle' | 'restart' | 'detach' | 'fill' | 'unfill';

/** The power-up state of a zone that now holds `wp` bytes (rolledBack: it lost cached writes). */
function powerUp(state: State, wp: number, rolledBack: boolean): State {
  let s = state;
  if (rolledBack && s === 'fu') s = 'cl';
  if (rolledBack && s === 'cl' && wp === 0) s = 'em';
  if (s === 'oi' || s === 'oe') s = wp === 0 ? 'em' : 'cl';
  return s;
}

function readZone(mnt: string, z: Zone, len: number): Buffer {
  const fd = fs.openSync(path.join(mnt, `${z.ns}.zones`, String(z.zone)), 'r');
  try {
    const buf = Buffer.alloc(len);
    let got = 0;
    while (got < len) {
      const r = fs.readSync(fd, buf, got, len - got, got);
      if (r === 0) break;
      got += r;
    }
    return buf.subarray(0, got);
  } finally {
    fs.closeSync(fd);
  }
}

/** Compare the first `upTo` bytes of the zone with the model's chunks (plus a pending write). */
function dataMatches(data: Buffer, chunks: Chunk[], upTo: number): string | undefined {
  for (const c of chunks) {
    if (c.off >= upTo) break;
    const len = Math.min(c.len, upTo - c.off);
    const want = (c.data ?? pattern(c.seed, c.len / LBA, LBA)).subarray(0, len);
    if (!data.subarray(c.off, c.off + len).equals(want)) return `data at ${c.off}..${c.off + len} differs from the acknowledged write`;
  }
  return undefined;
}

/**
 * Check every zone against the device after an event, and adopt what the device shows where the
 * event allowed a choice. `loss`: zones may have lost cached writes (power loss, SIGKILL);
 * `shutdown`: open zones were closed (clean stop, detach); `pending`: operations a crash left open.
 */
function verify(m: Model, mnt: string, event: Event, pending: Pending[], onlyNs?: string): void {
  const reports = new Map<string, Array<{ wp: number | null; state: string; start: number }>>();
  for (const n of NAMESPACES) {
    reports.set(n.ns, JSON.parse(fs.readFileSync(path.join(mnt, `${n.ns}.zones`, 'report.json'), 'utf8')).zones);
  }
  const loss = event === 'kill9' || event === 'power-cycle';
  const transition = loss || event === 'restart' || event === 'detach';
  for (const z of m.zones.values()) {
    const affected = transition && (onlyNs === undefined || onlyNs === z.ns);
    const r = reports.get(z.ns)![z.zone]!;
    const state = REPORT_STATE[r.state];
    const wpBytes = state === 'fu' ? ZONE : (r.wp! - r.start) * LBA;
    const where = `${key(z.ns, z.zone)} after ${event} (epoch ${m.epoch})`;
    const p = pending.find((x) => x.intent.ns === z.ns && x.intent.zone === z.zone);
    // Candidate models: as acknowledged, and (a crash's open operation) with it applied.
    const candidates: Zone[] = [{ ...z, chunks: [...z.chunks] }];
    if (p) {
      const c: Zone = { ...z, chunks: [...z.chunks] };
      const i = p.intent;
      if (i.op === 'dwrite' || i.op === 'bwrite' || i.op === 'append') {
        c.chunks.push({ off: z.wp, len: i.nlb! * LBA, seed: i.seed! });
        c.wp = Math.min(ZONE, z.wp + i.nlb! * LBA);
        if (!z.cache) c.durHi = c.wp;
        c.state = c.wp === ZONE ? 'fu' : z.state === 'oe' ? 'oe' : 'oi';
        candidates[0]!.durHi = z.durHi; // the write's prefix is checked against candidate 1
      } else if (i.op === 'fsync') {
        for (const o of m.zones.values()) if (o.ns === i.ns) o.durHi = o.wp;
        c.durHi = z.wp;
      } else if (i.verb && m.transition(z, i.verb) !== 'refuse') {
        m.manage(c, i.verb);
      }
      candidates.push(c);
    }
    let ok: { cand: Zone; wp: number } | undefined;
    const why: string[] = [];
    for (const cand of candidates) {
      const dataEnd = state === 'fu' ? Math.min(cand.wp, ZONE) : wpBytes;
      let lo = cand.wp;
      let hi = cand.wp;
      if (affected && loss && cand.cache) lo = cand.durLo;
      if (p && cand !== candidates[0] && (p.intent.op.endsWith('write') || p.intent.op === 'append')) lo = Math.min(lo, z.wp);
      const obs = state === 'fu' ? cand.wp : wpBytes;
      if (!(obs >= Math.min(lo, hi) && obs <= hi) && !(state === 'fu' && cand.state === 'fu')) {
        why.push(`write pointer ${wpBytes}, model allows ${lo}..${hi}`);
        continue;
      }
      const rolledBack = obs < cand.wp;
      if (affected && loss && cand.cache && obs < Math.min(cand.durHi, cand.wp) && obs < cand.durLo) {
        why.push(`write pointer ${obs} below the durable ${cand.durLo}`);
        continue;
      }
      const want = affected ? powerUp(cand.state, obs, rolledBack) : cand.state;
      if (state !== want) {
        why.push(`state ${state}, model ${want} (was ${cand.state}, wp ${obs} of ${cand.wp})`);
        continue;
      }
      ok = { cand, wp: dataEnd };
      break;
    }
    if (!ok) {
      m.violation(`${where}: ${why.join('; or ')}`);
      // Adopt the device so that one violation is reported once.
      z.wp = wpBytes; z.state = state ?? 'cl'; z.durLo = z.durHi = wpBytes; z.chunks = [];
      continue;
    }
    const data = readZone(mnt, z, ok.wp);
    const bad = data.length !== ok.wp ? `read ${data.length} bytes of ${ok.wp}` : dataMatches(data, ok.cand.chunks, ok.wp);
    if (bad) m.violation(`${where}: ${bad}`);
    // Adopt: what the device kept is now the model.
    const c = ok.cand;
    z.chunks = c.chunks.filter((x) => x.off < ok!.wp).map((x) => ({ ...x, len: Math.min(x.len, ok!.wp - x.off), data: x.data?.subarray(0, Math.min(x.len, ok!.wp - x.off)) }));
    z.wp = ok.wp;
    z.state = state!;
    if (affected || z.cache === false) z.durLo = z.durHi = z.wp;
    else { z.durLo = Math.min(c.durLo, z.wp); z.durHi = Math.min(c.durHi, z.wp); }
  }
}

describe.skipIf(!isRoot)('randomized soak', () => {
  it(`several writers, zone management, detach/attach, power cycles, SIGKILLs and a full backing store for ${SECONDS} s`, async () => {
    console.log(`soak: seed ${SEED} (replay: ZONEFUSE_SOAK_SEED=${SEED} ZONEFUSE_SOAK_SECONDS=${SECONDS})`);
    const rand = mulberry32(SEED);
    const int = (n: number): number => Math.floor(rand() * n);
    const m = new Model();
    const counts = { epochs: 0, restarts: 0, kills: 0, powerCycles: 0, detaches: 0, fills: 0 };
    await withTmpfs('40M', async (t) => {
      const store = path.join(t.fs, 'store');
      const mnt = path.join(t.dir, 'mnt');
      const logFile = path.join(t.dir, 'daemon.log');
      for (const n of NAMESPACES) {
        const r = cli(['create', store, '--ns', n.ns, '--size', String(n.size), '--zone-size', '4M', '--conv-zones', String(n.conv),
          '--max-open', '0', '--max-active', '0', ...(n.cache ? ['--volatile-cache'] : [])]);
        expect(r.status, r.stderr).toBe(0);
      }
      let daemon = await startDaemon(store, mnt, logFile);
      const fillers: string[] = [];
      const all = [...m.zones.values()];
      const end = Date.now() + SECONDS * 1000;
      try {
        while (Date.now() < end) {
          counts.epochs++;
          m.epoch = counts.epochs;
          const t0 = Date.now();
          const opsBefore = m.ops;
          const workers = Array.from({ length: WORKERS }, (_, k) => startWorker(mnt, int(2 ** 31), all.filter((_z, i) => i % WORKERS === k)));
          await waitFor(() => workers.every((w) => w.lines.length > 0 || w.proc.exitCode !== null), 'the workers to start', 30_000);
          await new Promise((r) => setTimeout(r, 500 + int(4000)));
          const roll = rand();
          const event: Event = roll < 0.3 ? 'kill9' : roll < 0.5 ? 'power-cycle' : roll < 0.6 ? 'restart' : roll < 0.75 ? 'detach'
            : fillers.length > 0 && (roll < 0.87 || fillers.length > 2) ? 'unfill' : 'fill';
          let pending: Pending[] = [];
          if (event === 'kill9') {
            daemon.proc!.kill('SIGKILL');
            await waitFor(() => daemon.exited, 'daemon death', 30_000);
            // The workers go too (their open files would keep the dead mount busy).
            for (const w of workers) killGroup(w);
            await Promise.all(workers.map((w) => w.done));
            await stopDaemon(daemon, mnt, 'SIGKILL');
            pending = workers.map((w) => consume(m, w, true)).filter((x): x is Pending => x !== undefined);

            daemon = await startDaemon(store, mnt, logFile);
            counts.kills++;
            counts.restarts++;
            verify(m, mnt, 'kill9', pending);
            console.log(`soak: epoch ${counts.epochs}: kill9, ${m.ops - opsBefore} ops, ${Date.now() - t0} ms`);
            continue;
          }
          for (const w of workers) w.proc.stdin!.write('stop\n');
          await Promise.all(workers.map((w) => w.done));
          for (const w of workers) consume(m, w, false);
          if (event === 'power-cycle') {
            const r = cli(['power-cycle', mnt]);
            if (r.status !== 0) m.violation(`power-cycle failed: ${r.stderr}`);
            counts.powerCycles++;
            verify(m, mnt, 'power-cycle', []);
          } else if (event === 'restart') {
            await stopDaemon(daemon, mnt, 'SIGTERM');
            daemon = await startDaemon(store, mnt, logFile);
            counts.restarts++;
            verify(m, mnt, 'restart', []);
          } else if (event === 'detach') {
            const ns = NAMESPACES[int(NAMESPACES.length)]!.ns;
            const d = cli(['ns', 'detach', mnt, ns]);
            if (d.status !== 0) m.violation(`detach ${ns} failed: ${d.stderr}`);
            fs.writeFileSync(path.join(mnt, 'ctl'), `attach ${ns}\n`);
            counts.detaches++;
            verify(m, mnt, 'detach', [], ns);
          } else if (event === 'fill') {
            fillers.push(t.fill(int(4) * MiB));
            counts.fills++;
            verify(m, mnt, 'fill', []);
          } else {
            fs.rmSync(fillers.pop()!);
            verify(m, mnt, 'unfill', []);
          }
          console.log(`soak: epoch ${counts.epochs}: ${event}, ${m.ops - opsBefore} ops, ${Date.now() - t0} ms`);
        }
      } finally {
        await stopDaemon(daemon, mnt, 'SIGTERM').catch(() => undefined);
      }
      const log = fs.readFileSync(logFile, 'utf8');
      const internal = log.split('\n').filter((l) => /internal error|"stack"/.test(l));
      if (internal.length > 0) m.violation(`daemon log has ${internal.length} internal errors or stack traces: ${internal[0]!.slice(0, 300)}`);
      const check = cli(['check', store]);
      if (check.status !== 0) m.violation(`zonefuse check: ${check.stdout}${check.stderr}`);
      if (m.violations.length > 0) {
        // Keep the daemon's log for the post-mortem (the tmpfs goes with the test).
        const kept = path.join(os.tmpdir(), `zonefuse-soak-${SEED}-${process.pid}.log`);
        fs.copyFileSync(logFile, kept);
        console.log(`soak: daemon log kept in ${kept}`);
      }
    });
    console.log(`soak: seed ${SEED}: ${m.ops} ops (${m.refused} refused, ${m.enospc} ENOSPC), ${counts.epochs} epochs, ` +
      `${counts.restarts} restarts (${counts.kills} SIGKILL), ${counts.powerCycles} power cycles, ${counts.detaches} detach/attach, ` +
      `${counts.fills} fills, ${m.violations.length} violations`);
    for (const v of m.violations.slice(0, 20)) console.log(`soak violation: ${v}`);
    expect(m.violations).toEqual([]);
  }, (SECONDS + 240) * 1000);
});
