/**
 * `zonefuse map` on a real mount: golden output for a known layout (plain, 16 and 256 colours,
 * aggregated), the NO_COLOR and terminal rules (a real pseudo-terminal through script(1)), the
 * width rule, and --watch following writes and resets until q / SIGINT.
 *
 * Regenerate the golden files after an intended change with
 *     ZONEFUSE_UPDATE_GOLDEN=1 npx vitest run test/integration/map.test.ts
 * and read the diff.
 */
import { ChildProcess, execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CLI, Fixture, ROOT, cli, mounted, sh, waitFor } from '../helpers/mount.js';
import { tmpDir } from '../helpers/tmp.js';

const GOLDEN = path.join(ROOT, 'test/golden/map');
const UPDATE = process.env.ZONEFUSE_UPDATE_GOLDEN === '1';
const ESC = /\x1b\[[0-9;?]*[A-Za-z]/g;

/** Environment with colour-related variables removed, plus `extra`. */
function env(extra: Record<string, string>): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = { ...process.env };
  for (const k of ['NO_COLOR', 'FORCE_COLOR', 'COLORTERM', 'COLUMNS', 'LINES', 'LC_ALL', 'LC_CTYPE', 'LANG']) delete e[k];
  return { ...e, TERM: 'xterm-256color', ...extra };
}

/**
 * Run a command without blocking this worker's event loop (vitest's RPC with the main process
 * times out when a test runs synchronous children back to back for long on a loaded machine).
 */
function run(cmd: string, args: string[], extra: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { encoding: 'utf8', env: env(extra), timeout: 30_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')} failed: ${err.message}\n${stderr}${stdout}`));
      else resolve(stdout);
    });
  });
}

function map(args: string[], extra: Record<string, string>): Promise<string> {
  return run(process.execPath, [CLI, 'map', ...args], extra);
}

/** Compare with (or record) a golden file; escape sequences are shown as \e so the file is readable. */
function golden(name: string, text: string, store: string): void {
  const shown = text.split(store).join('$STORE').replace(/\x1b/g, '\\e');
  const file = path.join(GOLDEN, `${name}.txt`);
  if (UPDATE) {
    fs.mkdirSync(GOLDEN, { recursive: true });
    fs.writeFileSync(file, shown);
    return;
  }
  expect(shown, `differs from ${path.relative(ROOT, file)}`).toBe(fs.readFileSync(file, 'utf8'));
}

/** Display width of a line: escape sequences take no room, each code point one column. */
function columns(line: string): number {
  return [...line.replace(ESC, '')].length;
}

/** Run a command on a pseudo-terminal of the given size; returns what the terminal received. */
async function onTerminal(cmd: string, cols: number, rows: number, extra: Record<string, string>): Promise<string> {
  return (await run('script', ['-qfec', `stty cols ${cols} rows ${rows}; ${cmd}`, '/dev/null'], extra)).replace(/\r\n/g, '\n');
}

let fx: Fixture;

/** A layout with every state: conventional, empty, open both ways, closed, full, read only, offline. */
async function knownLayout(): Promise<Fixture> {
  const f = await mounted(['--size', '64M', '--zone-size', '1M', '--conv-zones', '2', '--max-open', '4', '--max-active', '6']);
  const ctl = path.join(f.mnt, 'nvme0n1.zones', 'ctl');
  const r = sh(`set -e
    dd if=/dev/zero of=${f.ns()} bs=64k count=5 seek=$((5*16)) conv=notrunc status=none
    dd if=/dev/zero of=${f.ns()} bs=64k count=12 seek=$((9*16)) conv=notrunc status=none
    echo "open 8" > ${ctl}; echo "finish 10" > ${ctl}; echo "readonly 21" > ${ctl}; echo "offline 20" > ${ctl}
    dd if=/dev/zero of=${f.ns()} bs=64k count=8 seek=$((30*16)) conv=notrunc status=none
    echo "close 30" > ${ctl}
    dd if=/dev/zero of=${f.ns()} bs=1M count=3 seek=40 conv=notrunc status=none`);
  if (r.status !== 0) throw new Error(r.stderr);
  return f;
}

describe('zonefuse map', () => {
  let stop: ChildProcess | undefined;
  afterEach(() => {
    if (stop && stop.exitCode === null) stop.kill('SIGKILL');
    stop = undefined;
  });

  beforeAll(() => {
    expect(fs.existsSync(path.join(ROOT, 'dist/cli/commands/map.js')), 'run npm run build first').toBe(true);
  });

  it('draws a known layout: plain, 16 colours, 256 colours with the fill level, aggregated', async () => {
    fx = await knownLayout();
    golden('plain-72', await map([fx.mnt], { COLUMNS: '72', NO_COLOR: '1' }), fx.store);
    golden('colour16-72', await map([fx.mnt], { COLUMNS: '72', FORCE_COLOR: '1' }), fx.store);
    golden('colour256-72', await map([fx.mnt], { COLUMNS: '72', FORCE_COLOR: '2', LANG: 'C.UTF-8' }), fx.store);
    // 64 zones, 30 cells a row, 9 lines: zones are grouped, and the map says so.
    golden('aggregated-40x9', await map([fx.mnt], { COLUMNS: '40', LINES: '9', NO_COLOR: '1' }), fx.store);
    // Without a mount the store is read from its files (the shutdown closed the open zones).
    await fx.daemon.stop();
    golden('store-72', await map([fx.store], { COLUMNS: '72', NO_COLOR: '1' }), fx.store);
    const w = cli(['map', fx.store, '--watch']);
    expect(w.status).toBe(1);
    expect(w.stderr).toMatch(/^zonefuse: map --watch follows a running device: .* is not mounted\n$/);
  });

  it('keeps every line within the width and the map within the height', async () => {
    fx = await knownLayout();
    for (const width of [20, 33, 47, 80, 131]) {
      for (const extra of [{ NO_COLOR: '1' }, { FORCE_COLOR: '2', LANG: 'C.UTF-8' }]) {
        const out = await map([fx.mnt], { COLUMNS: String(width), ...extra });
        for (const line of out.trimEnd().split('\n')) expect(columns(line), `${JSON.stringify(line)} at width ${width}`).toBeLessThanOrEqual(width);
      }
      const tall = await map([fx.mnt], { COLUMNS: String(width), LINES: '14', NO_COLOR: '1' });
      if (width >= 47) expect(tall.trimEnd().split('\n').length, `lines at ${width}x14`).toBeLessThanOrEqual(14);
    }
  });

  it('colours only a terminal, and never with NO_COLOR', async () => {
    fx = await knownLayout();
    const cmd = `${process.execPath} ${CLI} map ${fx.mnt}`;
    const tty = await onTerminal(cmd, 72, 40, { LANG: 'C.UTF-8' });
    expect(tty).toContain('\x1b[38;5;');
    expect(tty).toContain('▄');
    // The same picture, minus the colours and block heights, as piped output shows.
    const plainTty = await onTerminal(cmd, 72, 40, { LANG: 'C.UTF-8', NO_COLOR: '1' });
    expect(plainTty).not.toMatch(ESC);
    expect(plainTty).toBe(await map([fx.mnt], { COLUMNS: '72', LINES: '40', LANG: 'C.UTF-8' }));
    // A pipe gets plain characters even when the terminal type could do colours.
    expect(await map([fx.mnt], { COLUMNS: '72', LANG: 'C.UTF-8', COLORTERM: 'truecolor' })).not.toMatch(ESC);
    // Colour without UTF-8: coloured letters, no block characters.
    const ascii = await onTerminal(cmd, 72, 40, { LANG: 'C' });
    expect(ascii).toContain('\x1b[38;5;');
    expect(ascii).not.toContain('▄');
  });

  it('aggregates a large namespace into the screen and says so', async () => {
    const dir = tmpDir('zonefuse-map-');
    const store = path.join(dir, 'big');
    expect(cli(['create', store, '--size', '40000K', '--zone-size', '4K', '--lba-size', '512', '--conv-zones', '0']).status).toBe(0);
    const out = await map([store], { COLUMNS: '80', LINES: '24', NO_COLOR: '1' });
    const lines = out.trimEnd().split('\n');
    expect(lines.length).toBeLessThanOrEqual(24);
    expect(out).toMatch(/^(\d+) zones per cell \(10000 zones in (\d+) cells\)/m);
    const [, per, cells] = /^(\d+) zones per cell \(10000 zones in (\d+) cells\)/m.exec(out)!;
    expect(Math.ceil(10000 / Number(per))).toBe(Number(cells));
    expect(out).toContain('. empty 10000');
    // Without a height (a pipe into a file or a pager) every zone gets its own cell.
    expect((await map([store], { COLUMNS: '80', NO_COLOR: '1' })).split('\n').filter((l) => /^ *\d+ [.]+$/.test(l)).length).toBe(Math.ceil(10000 / 70));
  });

  it('--watch follows writes and resets, in a pipe and on a terminal, until SIGINT or q', async () => {
    fx = await knownLayout();
    // In a pipe: one frame per change.
    let out = '';
    const p = spawn(process.execPath, [CLI, 'map', fx.mnt, '--watch'], { env: env({ COLUMNS: '72', NO_COLOR: '1' }), stdio: ['ignore', 'pipe', 'pipe'] });
    stop = p;
    p.stdout!.on('data', (b: Buffer) => (out += b.toString()));
    await waitFor(() => out.includes('o implicitly open 2 '), 'first frame');
    sh(`dd if=/dev/zero of=${fx.ns()} bs=4k count=1 seek=$((50*256)) conv=notrunc status=none`);
    await waitFor(() => out.includes('o implicitly open 3 '), 'a frame after dd', 15_000);
    const frames = (): string[] => out.split('\n\n').filter(Boolean);
    const afterDd = frames().length;
    expect(cli(['zone', 'reset', fx.mnt, '50']).status).toBe(0);
    await waitFor(() => frames().length > afterDd && frames().at(-1)!.includes('o implicitly open 2 '), 'a frame after reset', 15_000);
    p.kill('SIGINT');
    await waitFor(() => p.exitCode !== null, 'exit on SIGINT');
    expect(p.exitCode).toBe(0);

    // On a terminal: full-screen redraws; q quits and gives the screen back.
    const typescript = path.join(fx.dir, 'typescript');
    const t = spawn('script', ['-qfec', `stty cols 72 rows 30; ${process.execPath} ${CLI} map ${fx.mnt} --watch`, typescript], {
      env: env({ LANG: 'C.UTF-8' }), stdio: ['pipe', 'ignore', 'ignore'],
    });
    stop = t;
    const seen = (): string => (fs.existsSync(typescript) ? fs.readFileSync(typescript, 'utf8') : '');
    await waitFor(() => seen().includes('watching: q or Ctrl-C to quit'), 'first frame on the terminal');
    expect(seen()).toContain('\x1b[?1049h');
    sh(`dd if=/dev/zero of=${fx.ns()} bs=4k count=1 seek=$((51*256)) conv=notrunc status=none`);
    await waitFor(() => seen().replace(ESC, '').includes('implicitly open 3'), 'a redraw after dd', 15_000);
    t.stdin!.write('q');
    await waitFor(() => t.exitCode !== null, 'exit on q');
    expect(t.exitCode).toBe(0);
    expect(seen()).toContain('\x1b[?1049l');
  });

  it('names the problem: no such namespace, several namespaces', async () => {
    fx = await knownLayout();
    const r = cli(['map', fx.mnt, '--ns', 'nvme0n9']);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^zonefuse: store .* has no namespace nvme0n9 \(it has: nvme0n1\)\n$/);
    expect(cli(['create', fx.mnt, '--ns', 'nvme0n2', '--size', '8M', '--zone-size', '1M']).status).toBe(0);
    const several = cli(['map', fx.mnt]);
    expect(several.status).toBe(1);
    expect(several.stderr).toMatch(/several namespaces \(nvme0n1, nvme0n2\): choose one with --ns/);
    expect(cli(['map', fx.mnt, '--ns', 'nvme0n2'], { env: { NO_COLOR: '1' } }).stdout).toContain('nvme0n2: 8 zones of 1 MiB');
  });
});
