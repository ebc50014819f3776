/**
 * zonefuse as a user outside this checkout gets it: `npm pack`, then `npm install -g` of the
 * tarball into a temporary prefix, and a temporary project that depends on the tarball. Both
 * installs run with --offline, an empty npm cache and --ignore-scripts: the tarball must carry
 * everything (bundled dependencies with their prebuilt binaries, our own native pieces built at
 * pack time), with no network and no install script. Then the installed command mounts, the
 * data goes through the mount, and the library is imported from the temporary project.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ChildProcess, execFile, spawn, spawnSync, SpawnSyncReturns } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, waitFor } from '../helpers/mount.js';

const MiB = 1 << 20;
const LBA = 4096;
/** The test namespace: 64 MiB of 4 MiB zones, no conventional zones. */
const ZONE_LBAS = (4 * MiB) / LBA;
const zone1Data = pattern(1);
const zone2Data = pattern(2);

let work = '';
let bin = '';
let installed = '';
let project = '';
let tarball = '';
let daemon: ChildProcess | undefined;
let daemonExit: number | null = null;
let viewer: ChildProcess | undefined;
let mnt = '';
let store = '';

function isMounted(dir: string): boolean {
  return fs.readFileSync('/proc/mounts', 'utf8').split('\n').some((l) => l.split(' ')[1] === dir);
}

function ok(r: SpawnSyncReturns<string>, what: string): SpawnSyncReturns<string> {
  if (r.status !== 0) throw new Error(`${what} failed (${r.status}): ${r.stderr}${r.stdout}`);
  return r;
}

/** The installed command, run from outside the checkout. */
function zonefuse(...args: string[]): SpawnSyncReturns<string> {
  return spawnSync(bin, args, { cwd: work, encoding: 'utf8', timeout: 60_000 });
}

/** Mounts the test store at `mnt` with the installed command and waits until it serves. */
async function mount(extra: string[]): Promise<void> {
  const logFile = path.join(work, `daemon-${extra.join('') || 'default'}.log`);
  const log = fs.openSync(logFile, 'w');
  daemonExit = null;
  daemon = spawn(bin, ['mount', ...extra, store, mnt], { cwd: work, stdio: ['ignore', 'ignore', log] });
  fs.closeSync(log);
  daemon.on('exit', (code) => (daemonExit = code ?? -1));
  const logged = (): string => fs.readFileSync(logFile, 'utf8');
  await waitFor(() => daemonExit !== null || (isMounted(mnt) && /serving/.test(logged())), 'the installed zonefuse to mount', 30_000);
  expect(daemonExit, logged()).toBe(null);
}

/** `zonefuse umount` with the installed command; the daemon exits 0 and the mount is gone. */
async function unmount(): Promise<void> {
  ok(zonefuse('umount', mnt), 'zonefuse umount');
  await waitFor(() => daemonExit !== null && !isMounted(mnt), 'the daemon to exit and the mount to go', 30_000);
  expect(daemonExit).toBe(0);
}

/** Writes `data` at the start of `zone` (its write pointer) with O_DIRECT dd, reads it back. */
function writeAndCheck(zone: number, data: Buffer, bs = LBA): void {
  const src = path.join(work, `zone${zone}.data`);
  fs.writeFileSync(src, data);
  const seek = (zone * ZONE_LBAS * LBA) / bs;
  ok(spawnSync('dd', [`if=${src}`, `of=${mnt}/nvme0n1`, `bs=${bs}`, `seek=${seek}`, 'conv=notrunc', 'oflag=direct', 'status=none']), 'dd write');
  const back = spawnSync('dd', [`if=${mnt}/nvme0n1`, `bs=${bs}`, `skip=${seek}`, `count=${data.length / bs}`, 'iflag=direct', 'status=none']);
  expect(back.status).toBe(0);
  expect(Buffer.compare(back.stdout, data)).toBe(0);
}

function pattern(seed: number): Buffer {
  const b = Buffer.alloc(MiB);
  for (let i = 0; i < b.length; i += 4) b.writeUInt32LE(((i + seed) * 2654435761) >>> 0, i);
  return b;
}

/**
 * Runs a long command without blocking this worker's event loop (vitest's RPC times out when
 * a synchronous child runs for a minute); rejects with its output when it fails.
 */
function runAsync(cmd: string, args: string[], cwd: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { cwd, encoding: 'utf8', timeout: 300_000, maxBuffer: 64 * MiB }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')} failed: ${err.message}\n${stderr}${stdout}`));
      else resolve(stdout);
    });
  });
}

/** npm, offline, with a private empty cache, never running install scripts. */
function npm(args: string[], cwd: string): Promise<string> {
  return runAsync('npm', [...args, '--offline', '--ignore-scripts', '--cache', path.join(work, 'npm-cache'), '--no-audit', '--no-fund', '--loglevel=error'], cwd);
}

/**
 * scripts/test reruns the integration tests with ZONEFUSE_TEST_FUSE=libfuse3; this file mounts
 * with both backends itself, so the rerun would only pack and install again (minutes).
 */
const rerunForOtherBackend = process.env.ZONEFUSE_TEST_FUSE === 'libfuse3';

beforeAll(async () => {
  if (rerunForOtherBackend) return;
  work = fs.realpathSync(fs.mkdtempSync(path.join(fs.realpathSync('/tmp'), 'zonefuse-pack-')));
  // npm pack runs prepack: a clean TypeScript build and every native/*/build.sh.
  const packed = await runAsync('npm', ['pack', '--json', '--pack-destination', work, '--loglevel=error'], ROOT);
  const [info] = JSON.parse(packed.slice(packed.indexOf('['))) as Array<{ filename: string }>;
  tarball = path.join(work, info!.filename);
  await npm(['install', '-g', '--prefix', path.join(work, 'global'), tarball], work);
  bin = path.join(work, 'global', 'bin', 'zonefuse');
  installed = path.join(work, 'global', 'lib', 'node_modules', 'zonefuse');
  store = path.join(work, 'store');
  mnt = path.join(work, 'mnt');
  project = path.join(work, 'project');
  fs.mkdirSync(project);
  fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({
    name: 'uses-zonefuse', private: true, type: 'module', dependencies: { zonefuse: `file:${tarball}` },
  }));
  await npm(['install'], project);
}, 600_000);

afterAll(() => {
  if (viewer && viewer.exitCode === null && viewer.signalCode === null) viewer.kill('SIGKILL');
  if (daemon && daemonExit === null) daemon.kill('SIGKILL');
  if (mnt && isMounted(mnt)) spawnSync('fusermount', ['-u', '-z', mnt]);
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

describe.skipIf(rerunForOtherBackend)('the packed tarball, installed', () => {
  it('holds the build, the docs and the bundled dependencies, and no sources or tests', () => {
    for (const p of ['bin/zonefuse.js', 'dist/index.js', 'dist/cli/main.js', 'docs/format.md', 'node_modules/fuse-native', 'node_modules/koffi']) {
      expect(fs.existsSync(path.join(installed, p)), p).toBe(true);
    }
    for (const p of ['src', 'test', 'scripts', 'tsconfig.json']) expect(fs.existsSync(path.join(installed, p)), p).toBe(false);
    // Every native piece of the checkout is in the package, built for this machine.
    const pieces = fs.existsSync(path.join(ROOT, 'native')) ? fs.readdirSync(path.join(ROOT, 'native')) : [];
    for (const piece of pieces) {
      const built = path.join(installed, 'native', piece, 'build');
      expect(fs.existsSync(built) && fs.readdirSync(built).length > 0, `native/${piece}/build`).toBe(true);
      expect(fs.existsSync(path.join(installed, 'native', piece, 'build.sh')), `native/${piece}/build.sh`).toBe(true);
    }
  });

  it('zonefuse doctor finds everything, native pieces loaded from the installed package', () => {
    const r = zonefuse('doctor');
    expect(r.stdout).toMatch(/^zonefuse doctor: the default mount \(fuse-native\) will work$/m);
    expect(r.status).toBe(0);
    // This machine has every system package, so every native part of the package must load.
    expect(r.stdout).not.toMatch(/^missing/m);
    expect(r.stdout).toMatch(/^ok +fuse-native: /m);
    expect(r.stdout).toMatch(/^ok +koffi: /m);
    expect(r.stdout).toContain(`ok      preload library: ${installed}/native/preload/build/libzonefuse-preload.so preloads`);
  });

  it('mounts, writes, reads and unmounts through the installed command (fuse-native), with exec, the library and the web view', async () => {
    ok(zonefuse('create', store, '--ns', 'nvme0n1', '--size', '64M', '--zone-size', '4M', '--conv-zones', '0'), 'zonefuse create');
    await mount([]);
    writeAndCheck(1, zone1Data);
    expect(fs.statSync(`${mnt}/nvme0n1.zones/1`).size).toBe(MiB);

    // zonefuse exec with the installed package's preload library: blkzone sees a zoned device.
    expect(zonefuse('preload').stdout).toBe(`${installed}/native/preload/build/libzonefuse-preload.so\n`);
    const blkzone = ok(zonefuse('exec', 'blkzone', 'report', `${mnt}/nvme0n1`), 'zonefuse exec blkzone report');
    expect(blkzone.stdout.split('\n')[1]).toMatch(/^ +start: 0x000002000, len 0x002000, cap 0x002000, wptr 0x000800 .*zcond: 2\(oi\)/);

    // The library from the project that depends on the tarball, on the mounted namespace.
    const lib = spawnSync(process.execPath, ['--input-type=module', '-e', `
      import { openDevice } from 'zonefuse';
      const dev = openDevice(${JSON.stringify(`${mnt}/nvme0n1`)});
      const zone = dev.report(${ZONE_LBAS}, 1)[0];
      const head = dev.read(${ZONE_LBAS}, 16).toString('hex');
      dev.dispose();
      console.log(JSON.stringify({ resolved: import.meta.resolve('zonefuse'), wp: zone.wp, state: zone.state, head }));
    `], { cwd: project, encoding: 'utf8', timeout: 60_000 });
    expect(lib.stderr).toBe('');
    const seen = JSON.parse(lib.stdout) as { resolved: string; wp: number; state: string; head: string };
    expect(seen.resolved.startsWith(`file://${project}/node_modules/zonefuse/`)).toBe(true);
    expect(seen.head).toBe(zone1Data.subarray(0, 16).toString('hex'));
    expect(seen.wp).toBe(ZONE_LBAS + MiB / LBA);
    expect(seen.state).toBe('IMP_OPENED');

    // The web view, with its page shipped in the package (web/), follows the mount.
    const view = spawn(bin, ['view', mnt], { cwd: work, stdio: ['ignore', 'pipe', 'ignore'] });
    viewer = view;
    let printed = '';
    view.stdout!.on('data', (b: Buffer) => (printed += b.toString()));
    await waitFor(() => printed.includes('\n') || view.exitCode !== null, 'zonefuse view to print its URL', 30_000);
    const url = printed.split('\n')[0]!;
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/[^/]+\/$/);
    const page = await fetch(url);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('view.js');
    for (const asset of ['view.js', 'view.css']) expect((await fetch(url + asset)).status, asset).toBe(200);
    const state = (await (await fetch(url + 'api/state')).json()) as { namespaces: Array<{ name: string; counts: Record<string, number> }> };
    expect(state.namespaces.map((n) => n.name)).toEqual(['nvme0n1']);
    view.kill('SIGTERM');
    await waitFor(() => view.exitCode !== null || view.signalCode !== null, 'zonefuse view to stop', 30_000);

    await unmount();
    // The zone state was saved: an offline report from the installed command.
    const report = JSON.parse(ok(zonefuse('report', store, '--format', 'json'), 'zonefuse report').stdout) as { zones: Array<{ wp: number }> };
    expect(report.zones[1]!.wp).toBe(ZONE_LBAS + MiB / LBA);
  }, 120_000);

  it('mounts with --fuse libfuse3 (the addon built at pack time), writes, reads and unmounts', async () => {
    await mount(['--fuse', 'libfuse3']);
    expect(ok(zonefuse('info', mnt), 'zonefuse info').stdout).toMatch(/^fuse_backend: libfuse3$/m);
    // What the fuse-native mount wrote is still there; zone 2 is written in one 1 MiB request.
    const back = spawnSync('dd', [`if=${mnt}/nvme0n1`, `bs=${MiB}`, `skip=4`, 'count=1', 'iflag=direct', 'status=none']);
    expect(Buffer.compare(back.stdout, zone1Data)).toBe(0);
    writeAndCheck(2, zone2Data, MiB);
    await unmount();
    const report = JSON.parse(ok(zonefuse('report', store, '--format', 'json'), 'zonefuse report').stdout) as { zones: Array<{ wp: number }> };
    expect(report.zones[2]!.wp).toBe(2 * ZONE_LBAS + MiB / LBA);
  }, 120_000);
});
