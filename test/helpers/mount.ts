/**
 * Real mounts for integration tests: the daemon is `node bin/zonefuse.js mount` in its own
 * process (never this one: a FUSE daemon must not be a client of itself). Every mount made
 * here is unmounted and every daemon started here is stopped after each test, pass or fail.
 */
import { ChildProcess, spawn, spawnSync, SpawnSyncReturns } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach } from 'vitest';
import { tmpDir } from './tmp.js';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const CLI = path.join(ROOT, 'bin', 'zonefuse.js');

const live = new Set<Daemon>();

/**
 * The FUSE backend the integration tests mount with: ZONEFUSE_TEST_FUSE (fuse-native or
 * libfuse3; scripts/test runs the integration tests once with each), else the CLI's default.
 */
export const TEST_FUSE = process.env.ZONEFUSE_TEST_FUSE ?? '';
const fuseArgs = (): string[] => (TEST_FUSE ? ['--fuse', TEST_FUSE] : []);

function isMounted(mnt: string): boolean {
  const text = fs.readFileSync('/proc/mounts', 'utf8');
  return text.split('\n').some((l) => l.split(' ')[1] === mnt);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function waitFor(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return;
    await sleep(20);
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Run the CLI synchronously. */
export function cli(args: string[], opts: { env?: NodeJS.ProcessEnv; input?: string } = {}): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, ...opts.env }, input: opts.input ?? '' });
}

/** Run a command; returns status, stdout, stderr. */
export function run(cmd: string, args: string[], input?: string): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, { encoding: 'utf8', input: input ?? '' });
}

export function sh(script: string): SpawnSyncReturns<string> {
  return spawnSync('bash', ['-c', script], { encoding: 'utf8' });
}

/** Run python3 code (for O_APPEND offsets, unaligned buffers, precise errnos). */
export function py(code: string, ...args: string[]): SpawnSyncReturns<string> {
  return spawnSync('python3', ['-c', code, ...args], { encoding: 'utf8' });
}

export class Daemon {
  proc: ChildProcess | undefined;
  exitCode: number | null = null;
  /** The daemon logs to a file, not a pipe: a pipe nobody drains would block it (and the mount). */
  private logFile = '';

  constructor(readonly store: string, readonly mnt: string) {}

  /** What the current daemon has logged so far. */
  get stderr(): string {
    try {
      return fs.readFileSync(this.logFile, 'utf8');
    } catch {
      return '';
    }
  }

  async start(extra: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<void> {
    this.exitCode = null;
    this.logFile = path.join(path.dirname(this.mnt), `daemon-${Date.now()}-${Math.random().toString(36).slice(2)}.log`);
    const log = fs.openSync(this.logFile, 'w');
    const proc = spawn(process.execPath, [CLI, 'mount', this.store, this.mnt, '--log-level', 'info', ...fuseArgs(), ...extra], {
      stdio: ['ignore', 'ignore', log],
      env: { ...process.env, ...env },
    });
    fs.closeSync(log);
    this.proc = proc;
    live.add(this);
    proc.on('exit', (code) => (this.exitCode = code ?? -1));
    // Generous: on a loaded machine (parallel test runs) a start can take many seconds.
    await waitFor(() => this.exitCode !== null || (isMounted(this.mnt) && /serving/.test(this.stderr)), `mount of ${this.mnt}`, 60_000);
    if (this.exitCode !== null) throw new Error(`daemon exited (${this.exitCode}): ${this.stderr}`);
  }

  get pid(): number {
    return this.proc?.pid ?? -1;
  }

  /** SIGTERM and wait until the daemon has exited and the mount is gone. */
  async stop(): Promise<void> {
    if (!this.proc || this.exitCode !== null) return;
    this.proc.kill('SIGTERM');
    await waitFor(() => this.exitCode !== null, 'daemon exit', 60_000);
    await waitFor(() => !isMounted(this.mnt), 'unmount', 60_000);
    live.delete(this);
  }

  /** Simulate a crash of the daemon. */
  async kill9(): Promise<void> {
    if (!this.proc || this.exitCode !== null) return;
    this.proc.kill('SIGKILL');
    await waitFor(() => this.exitCode !== null, 'daemon death');
    live.delete(this);
  }

  /** Last resort: never leave a mount or a daemon behind. */
  cleanup(): void {
    if (this.proc && this.exitCode === null) this.proc.kill('SIGKILL');
    if (isMounted(this.mnt)) spawnSync('fusermount', ['-u', '-z', this.mnt]);
    live.delete(this);
  }
}

export interface Fixture {
  dir: string;
  store: string;
  mnt: string;
  daemon: Daemon;
  /** Path of a namespace file or of a file in its zone directory. */
  ns(name?: string): string;
  zone(z: number | string, name?: string): string;
}

/** Create a store with `createArgs`, mount it, and hand back paths. */
export async function mounted(createArgs: string[] = [], name = 'nvme0n1'): Promise<Fixture> {
  const dir = tmpDir('zonefuse-it-');
  const store = path.join(dir, 'store');
  const mnt = path.join(dir, 'mnt');
  const r = cli(['create', store, '--ns', name, ...createArgs]);
  if (r.status !== 0) throw new Error(`create failed: ${r.stderr}`);
  const daemon = new Daemon(store, mnt);
  await daemon.start();
  return {
    dir, store, mnt, daemon,
    ns: (n = name) => path.join(mnt, n),
    zone: (z, n = name) => path.join(mnt, `${n}.zones`, String(z)),
  };
}

afterEach(async () => {
  for (const d of [...live]) {
    try {
      await d.stop();
    } catch {
      // fall through to the hard cleanup
    }
    d.cleanup();
  }
});
