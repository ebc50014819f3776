/**
 * zonefuse daemons started by crashtest: `zonefuse mount` in a child process (a FUSE daemon
 * must not be a client of itself, and crashtest writes to the mount's control files), logging
 * to a file (a pipe nobody drains would block it), stopped with SIGTERM.
 */
import * as fs from 'node:fs';
import { ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { findMount } from '../fuse/mounts.js';

const CLI = fileURLToPath(new URL('../../bin/zonefuse.js', import.meta.url));

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class CrashtestDaemon {
  private proc: ChildProcess | undefined;
  private exit: number | null = null;

  constructor(readonly store: string, readonly mnt: string, readonly logFile: string, private readonly extra: string[] = []) {}

  get log(): string {
    try {
      return fs.readFileSync(this.logFile, 'utf8');
    } catch {
      return '';
    }
  }

  /** The last lines of the daemon's log, for error messages. */
  logTail(lines = 5): string {
    return this.log.trimEnd().split('\n').slice(-lines).join('\n');
  }

  get running(): boolean {
    return this.proc !== undefined && this.exit === null;
  }

  async start(timeoutMs = 30_000): Promise<void> {
    fs.mkdirSync(this.mnt, { recursive: true });
    const log = fs.openSync(this.logFile, 'a');
    const proc = spawn(process.execPath, [CLI, 'mount', this.store, this.mnt, '--log-level', 'info', ...this.extra], {
      stdio: ['ignore', 'ignore', log],
    });
    fs.closeSync(log);
    this.proc = proc;
    this.exit = null;
    proc.on('exit', (code, signal) => (this.exit = code ?? (signal ? 128 : -1)));
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.exit !== null) throw new Error(`zonefuse mount ${this.mnt} exited (${this.exit}): ${this.logTail()}`);
      if (findMount(this.mnt) && /"msg":"serving /.test(this.log)) return;
      await sleep(20);
    }
    await this.stop();
    throw new Error(`zonefuse mount ${this.mnt} did not come up within ${timeoutMs / 1000} s: ${this.logTail()}`);
  }

  /** SIGTERM, then wait for the daemon to save its state and exit. */
  async stop(timeoutMs = 30_000): Promise<void> {
    const p = this.proc;
    if (!p || this.exit !== null) return;
    p.kill('SIGTERM');
    const deadline = Date.now() + timeoutMs;
    while (this.exit === null && Date.now() < deadline) await sleep(20);
    if (this.exit === null) {
      p.kill('SIGKILL');
      while (this.exit === null) await sleep(20);
      throw new Error(`zonefuse mount ${this.mnt} did not stop within ${timeoutMs / 1000} s and was killed`);
    }
    if (this.exit !== 0) throw new Error(`zonefuse mount ${this.mnt} failed while stopping (${this.exit}): ${this.logTail()}`);
  }

  /** Last resort on an error path: never leave a daemon or a mount behind. */
  kill(): void {
    if (this.proc && this.exit === null) this.proc.kill('SIGKILL');
  }
}
