/**
 * Random CLI invocations (commands, arguments and options taken from the CLI's own definition,
 * so new ones are fuzzed as they appear) against an unmounted store, a mounted one and junk
 * paths; plus `info`/`check` on sidecars with a flipped byte. Seeded (test/helpers/fuzz.ts).
 * Every run ends (no hang), exits 0 or 1; a failure is one line `zonefuse: …` with no stack
 * trace; a refused command changes nothing in either store.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import type { Command } from 'commander';
import { buildProgram } from '../../src/cli/main.js';
import { StoredNamespace } from '../../src/store/stored-namespace.js';
import { listNamespaces } from '../../src/store/store.js';
import { reportBuffer } from '../../src/format/report.js';
import { CLI, Daemon, cli } from '../helpers/mount.js';
import { tmpDir } from '../helpers/tmp.js';
import { FUZZ_SCALE, Fuzz, fuzz } from '../helpers/fuzz.js';

/** Long-running or interactive commands, and ones that end the mount under test. */
const SKIP = new Set(['mount', 'umount', 'unmount', 'crashtest', 'view', 'exec', 'doctor', 'help']);

interface Run { status: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

/** Runs in `cwd` (a scratch directory: an empty path argument means the current directory). */
function runCli(args: string[], cwd: string, ms = 60_000): Promise<Run> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], cwd });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => p.kill('SIGKILL'), ms);
    p.on('close', (status, signal) => {
      clearTimeout(timer);
      resolve({ status, signal, stdout, stderr });
    });
  });
}

/** What a user can observe of a store without a daemon: files, zone reports, faults. */
function storeState(store: string): string {
  if (!fs.existsSync(store)) return 'absent';
  let out = fs.readdirSync(store).filter((n) => !n.startsWith('.')).sort().join(' ') + '\n';
  for (const name of listNamespaces(store)) {
    const ns = StoredNamespace.open(store, name, { readOnly: true });
    try {
      out += `${name} ${ns.engine.zoned ? reportBuffer(ns.engine, 'json').toString() : 'not zoned'} ${ns.listFaults().join(';')}\n`;
    } finally {
      ns.close();
    }
  }
  return out;
}

function mountState(mnt: string): string {
  let out = fs.readFileSync(`${mnt}/info`, 'utf8');
  for (const n of fs.readdirSync(mnt).filter((x) => x.endsWith('.zones')).sort()) {
    out += fs.readFileSync(`${mnt}/${n}/report.json`, 'utf8') + fs.readFileSync(`${mnt}/${n}/faults`, 'utf8');
  }
  return out;
}

/** Every leaf command of the program, with its path of names. */
function leaves(cmd: Command, prefix: string[] = []): { names: string[]; cmd: Command }[] {
  const out: { names: string[]; cmd: Command }[] = [];
  for (const c of cmd.commands) {
    if (SKIP.has(c.name())) continue;
    if (c.commands.length > 0) out.push(...leaves(c, [...prefix, c.name()]));
    else out.push({ names: [...prefix, c.name()], cmd: c });
  }
  return out;
}

/** Hostile text for an argument: anything but NUL, which no exec(2) argument can carry. */
function argJunk(z: Fuzz, n: number): string {
  return z.junk(n).replace(/\0/g, '\\0');
}

function value(z: Fuzz): string {
  return z.pick(['0', '1', '3', '15', '16', '512', '4K', '1M', '3M', '64M', '1G', '1P', '-1', '1.5', 'x', '', 'all', 'on', 'off',
    'nvme0n1', 'plain', 'json', 'nvme', 'blkzone', 'ocssd', 'full', 'empty', 'little', 'big', 'read', 'write', 'reset', 'finish',
    argJunk(z, 1 + z.int(5)), '9'.repeat(30), '--', '-h']);
}

// The CLI and the store are the same whichever FUSE backend serves: fuzzed in the first pass of
// scripts/test only (the second pass repeats the integration tests on libfuse3).
describe.skipIf(process.env.ZONEFUSE_TEST_FUSE === 'libfuse3')('fuzzed CLI', () => {
  it('random commands, arguments and options: one-line refusals that change nothing', { timeout: 1_800_000 }, async () => {
    const z = fuzz('CLI fuzz');
    const dir = tmpDir('zonefuse-clifuzz-');
    const offline = path.join(dir, 'offline');
    const served = path.join(dir, 'served');
    const mnt = path.join(dir, 'mnt');
    for (const s of [offline, served]) {
      for (const args of [['--ns', 'nvme0n1', '--size', '16M', '--zone-size', '1M', '--conv-zones', '1'], ['--ns', 'plain', '--no-zoned', '--size', '1M']]) {
        const r = cli(['create', s, ...args]);
        if (r.status !== 0) throw new Error(r.stderr);
      }
    }
    const scratch = path.join(dir, 'cwd');
    fs.mkdirSync(scratch);
    const daemon = new Daemon(served, mnt);
    await daemon.start();
    try {
      const targets = (): string[] => [offline, offline, mnt, mnt, served, path.join(dir, 'new-' + z.int(1000)), '/nonexistent', '/etc/passwd', '', argJunk(z, 4), `${offline}/nvme0n1.zmeta`];
      const commands = leaves(buildProgram());
      expect(commands.length).toBeGreaterThan(10);
      const runs = Math.round(100 * FUZZ_SCALE);
      let ok = 0;
      let refused = 0;
      for (let i = 0; i < runs; i++) {
        const { names, cmd } = z.pick(commands);
        const args = [...names];
        for (const a of cmd.registeredArguments) {
          if (!a.required && z.chance(0.5)) continue;
          args.push(z.chance(0.6) && /store|target|mountpoint|dir/.test(a.name()) ? z.pick(targets()) : value(z));
          if (a.variadic && z.chance(0.3)) args.push(value(z));
        }
        for (const o of cmd.options) {
          if (o.long === '--watch' || !z.chance(0.3)) continue;
          args.push(o.long!);
          if (o.required || o.optional) args.push(value(z));
        }
        if (z.chance(0.1)) args.splice(z.int(args.length + 1), 0, z.pick(['--bogus', '-x', value(z)]));
        // A command that succeeds may write files the user named (a --json PATH, say): compare the
        // scratch directory per command instead of expecting it empty.
        const before = { offline: storeState(offline), mounted: mountState(mnt), scratch: fs.readdirSync(scratch).sort() };
        const r = await runCli(args, scratch);
        const what = `zonefuse ${JSON.stringify(args)} (seed ${z.seed})`;
        expect(r.signal, `${what}: killed (hung?)`).toBeNull();
        expect([0, 1], `${what}: exit status; stderr: ${r.stderr}`).toContain(r.status);
        expect(daemon.exitCode, `${what}: the daemon died`).toBeNull();
        if (r.status === 0) {
          ok++;
          continue;
        }
        refused++;
        const lines = r.stderr.trimEnd().split('\n');
        expect(lines, `${what}: one line`).toHaveLength(1);
        expect(lines[0], what).toMatch(/^zonefuse: \S/);
        expect(r.stderr, what).not.toMatch(/\n\s+at |TypeError|ReferenceError|Cannot read propert/);
        expect(storeState(offline), `${what}: changed the unmounted store`).toBe(before.offline);
        expect(mountState(mnt), `${what}: changed the mounted store`).toBe(before.mounted);
        if (listNamespaces(scratch).length === 0) expect(fs.readdirSync(scratch).sort(), `${what}: left files in a directory that is no store`).toEqual(before.scratch);
      }
      console.log(`CLI fuzz: ${runs} runs: ${ok} succeeded, ${refused} refused`);
      expect(refused).toBeGreaterThan(runs / 4);
    } finally {
      await daemon.stop();
    }
  });

  it('info and check on a sidecar with a flipped byte: one line, never a stack trace', { timeout: 900_000 }, async () => {
    const z = fuzz('CLI sidecar flips');
    const store = path.join(tmpDir('zonefuse-cliflip-'), 'store');
    expect(cli(['create', store, '--ns', 'n', '--size', '16M', '--zone-size', '1M']).status).toBe(0);
    expect(cli(['fault', 'add', store, 'write', '500', '2']).status).toBe(0);
    const meta = path.join(store, 'n.zmeta');
    const original = fs.readFileSync(meta);
    const samples = Math.round(24 * FUZZ_SCALE);
    for (let i = 0; i < samples; i++) {
      // Half in the header (where the fields are), half anywhere (records, fault block).
      const off = z.chance(0.5) ? z.int(256) : z.int(original.length);
      const bad = Buffer.from(original);
      bad[off] = bad[off]! ^ (1 + z.int(255));
      fs.writeFileSync(meta, bad);
      for (const args of [['info', store], ['check', store], ['report', store]]) {
        const r = await runCli(args, path.dirname(store));
        const what = `${args[0]} with byte ${off} flipped (seed ${z.seed})`;
        expect(r.signal, what).toBeNull();
        expect([0, 1], `${what}: ${r.stderr}`).toContain(r.status);
        if (r.status !== 0 && args[0] !== 'check') {
          expect(r.stderr.trimEnd().split('\n'), `${what}: ${r.stderr}`).toHaveLength(1);
          expect(r.stderr, what).toMatch(/^zonefuse: .*n\.zmeta/);
        }
        expect(r.stderr, what).not.toMatch(/\n\s+at |TypeError|RangeError|Cannot read propert/);
      }
    }
    fs.writeFileSync(meta, original);
    expect(cli(['check', store]).status).toBe(0);
  });
});
