/**
 * `zonefuse crashtest` end to end (PRODUCT.md §13), run as a user would: the kv-store example's
 * crash workload and check (examples/kv-store/crash-*.mjs) pass every explored crash state; its
 * documented buggy mode (acknowledges puts before flushing) is caught with the failing state
 * ids; `--materialize` rebuilds one and the check fails on it again, over a real mount. Also:
 * the user's store is never touched, the same seed explores the same states, usage and
 * workload errors exit 2.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { describe, it, expect } from 'vitest';
import { CLI, Daemon, ROOT, TEST_FUSE, cli } from '../helpers/mount.js';
import { tmpDir } from '../helpers/tmp.js';

const EX = path.join(ROOT, 'examples', 'kv-store');
const OPS = 50;
const WORKLOAD = `node ${EX}/crash-workload.mjs --ops ${OPS}`;
const CHECK = `node ${EX}/crash-check.mjs --ops ${OPS}`;
const FUSE = TEST_FUSE ? ['--fuse', TEST_FUSE] : [];

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** The CLI, asynchronously (a long spawnSync would starve vitest's worker). */
function zonefuse(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

/** A store for the example: small zones so garbage collection runs (resets) during the workload. */
function kvStore(): string {
  const store = path.join(tmpDir('zonefuse-ct-'), 'store');
  const r = cli(['create', store, '--size', '512K', '--zone-size', '64K', '--conv-zones', '1']);
  expect(r.stderr).toBe('');
  return store;
}

function treeHash(dir: string): string {
  const h = createHash('sha256');
  for (const f of fs.readdirSync(dir).sort()) {
    const st = fs.statSync(path.join(dir, f));
    h.update(`${f}:${st.size}:${st.mtimeMs}:`);
    if (st.isFile()) h.update(fs.readFileSync(path.join(dir, f)));
  }
  return h.digest('hex');
}

interface Report {
  states: { planned: number; checked: number; passed: number; failed: number; boundaries: number; sampled: number };
  trace: { ops: number; flushes: number; zoneCommands: number; marks: number; verifiedWrites: number };
  materialize: { method: string };
  results: Array<{ id: string; kind: string; ok: boolean; mark: string; output: string; exitCode: number | null }>;
}

describe('zonefuse crashtest on the kv-store example', () => {
  it('the example passes every explored crash state; the user\'s store is untouched', async () => {
    const store = kvStore();
    const before = treeHash(store);
    const json = path.join(path.dirname(store), 'report.json');
    const r = await zonefuse(['crashtest', store, '--workload', WORKLOAD, '--check', CHECK, '--jobs', '2', '--max-states', '60', '--seed', '5', '--json', json, ...FUSE]);
    expect(r.status, r.stderr + r.stdout).toBe(0);
    expect(r.stdout).toMatch(/^result +all \d+ states passed$/m);
    expect(r.stderr).toMatch(/crashtest: \d+\/\d+ states checked, 0 failed, [\d.]+ states\/s/);
    const rep = JSON.parse(fs.readFileSync(json, 'utf8')) as Report;
    expect(rep.states.failed).toBe(0);
    expect(rep.states.checked).toBe(rep.states.planned);
    expect(rep.states.checked).toBeGreaterThanOrEqual(50);
    expect(rep.trace.marks).toBe(OPS);
    expect(rep.trace.flushes).toBeGreaterThan(OPS / 2);
    // Garbage collection ran: zone finishes and resets in the trace.
    expect(rep.trace.zoneCommands).toBeGreaterThan(2);
    expect(rep.trace.verifiedWrites).toBeGreaterThan(10);
    expect(rep.materialize.method).toMatch(/^(reflink|sparse)$/);
    expect(rep.results.every((x) => x.ok && /^crash-check: consistent/.test(x.output))).toBe(true);
    expect(treeHash(store)).toBe(before);
  }, 300_000);

  it('catches the buggy mode with failing state ids; --materialize rebuilds one and the check fails on it again', async () => {
    const store = kvStore();
    const json = path.join(path.dirname(store), 'report.json');
    const r = await zonefuse(['crashtest', store, '--workload', `${WORKLOAD} --buggy`, '--check', CHECK, '--jobs', '2', '--max-states', '40', '--json', json, ...FUSE]);
    expect(r.status, r.stderr + r.stdout).toBe(1);
    const rep = JSON.parse(fs.readFileSync(json, 'utf8')) as Report;
    const failed = rep.results.filter((x) => !x.ok);
    expect(failed.length).toBeGreaterThan(0);
    expect(rep.states.failed).toBe(failed.length);
    expect(r.stdout).toMatch(new RegExp(`^result +${failed.length} of ${rep.states.checked} states FAILED$`, 'm'));
    for (const x of failed) {
      expect(r.stdout).toContain(x.id); // the table names every failing state
      expect(x.output).toMatch(/was acknowledged with/);
    }
    const bad = failed[0]!;
    const good = rep.results.find((x) => x.ok)!;

    // Rebuild the failing state and a passing one; mount each and run the check by hand.
    for (const [state, wantFail] of [[bad, true], [good, false]] as const) {
      const dir = path.join(path.dirname(store), `state-${state.id.replace(/:/g, '_')}`);
      const m = await zonefuse(['crashtest', store, '--materialize', state.id, dir]);
      expect(m.stderr).toBe('');
      expect(m.status).toBe(0);
      expect(m.stdout).toContain(`materialised crash state ${state.id}`);
      const mnt = path.join(path.dirname(store), `mnt-${state.id.replace(/:/g, '_')}`);
      const d = new Daemon(dir, mnt);
      await d.start();
      try {
        const c = await new Promise<Run>((resolve) => {
          const p = spawn('sh', ['-c', CHECK], { env: { ...process.env, ZONEFUSE_NS: path.join(mnt, 'nvme0n1'), ZONEFUSE_MNT: mnt, ZONEFUSE_CRASH_MARK: state.mark } });
          let stdout = '';
          let stderr = '';
          p.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
          p.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
          p.on('close', (status) => resolve({ status, stdout, stderr }));
        });
        if (wantFail) {
          expect(c.status).toBe(1);
          expect(c.stderr.trim()).toBe(state.output.trim());
        } else {
          expect(c.status, c.stderr).toBe(0);
        }
      } finally {
        await d.stop();
      }
    }
  }, 300_000);

  it('explores the same states for the same seed, other sampled states for another', async () => {
    const store = kvStore();
    const ids = async (seed: number): Promise<string[]> => {
      const json = path.join(path.dirname(store), `r${seed}.json`);
      const r = await zonefuse(['crashtest', store, '--workload', `node ${EX}/crash-workload.mjs --ops 12 --buggy`, '--check', 'true', '--seed', String(seed), '--max-states', '30', '--jobs', '2', '--json', json, ...FUSE]);
      expect(r.status, r.stderr).toBe(0);
      return (JSON.parse(fs.readFileSync(json, 'utf8')) as Report).results.map((x) => x.id);
    };
    const a = await ids(9);
    expect(a.filter((id) => id.includes('prefix:')).length).toBeGreaterThan(5);
    expect(await ids(9)).toEqual(a);
    const c = await ids(10);
    const sampled = (l: string[]): string[] => l.filter((id) => id.includes('prefix:'));
    expect(sampled(c)).not.toEqual(sampled(a));
  }, 300_000);

  it('exits 2 on usage errors, a failing workload, an unknown state id', async () => {
    const store = kvStore();
    let r = await zonefuse(['crashtest', store, '--workload', 'true']);
    expect(r.status).toBe(2);
    expect(r.stderr).toBe('zonefuse: crashtest: --check CMD is required\n');
    r = await zonefuse(['crashtest', store, '--check', 'true', '--bogus']);
    expect(r.status).toBe(2);
    r = await zonefuse(['crashtest', path.join(store, 'nope'), '--workload', 'true', '--check', 'true']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/does not exist/);
    r = await zonefuse(['crashtest', store, '--workload', 'echo broken >&2; exit 3', '--check', 'true', ...FUSE]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/the workload failed \(exit status 3\): broken/);
    r = await zonefuse(['crashtest', store, '--materialize', '3:some', path.join(path.dirname(store), 'x')]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/is not a crash state id/);
    r = await zonefuse(['crashtest', store, '--materialize', '99999:none', path.join(path.dirname(store), 'x')]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/past the end of the trace/);
    // A workload that power-cycles the device itself cannot be modelled: said so, exit 2.
    r = await zonefuse(['crashtest', store, '--workload', 'echo power-cycle > "$ZONEFUSE_NS.zones/ctl"', '--check', 'true', ...FUSE]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/the workload power-cycled the device/);
  }, 120_000);
});
