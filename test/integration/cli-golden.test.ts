/**
 * Golden tests of the zonefuse CLI (PRODUCT.md §7), in the style of QEMU's iotests: each step
 * runs the real CLI (`node bin/zonefuse.js`, i.e. the dist build) as a child process and
 * compares its exit status, stdout and stderr verbatim with test/golden/cli/<step>.txt.
 *
 * Only truly volatile text is normalised (see normalise()): the temporary directory, UUIDs,
 * timestamps, pids, the host name, the header checksums (the header holds the UUID and
 * timestamps) and a non-zero data_file_allocated (st_blocks depends on the file system).
 *
 * The steps share stores and run in order. To regenerate the files after an intended change:
 *
 *     ZONEFUSE_UPDATE_GOLDEN=1 npx vitest run test/integration/cli-golden.test.ts
 *
 * and then read the diff: a golden file is a claim that the output is right.
 *
 * KNOWN_BUGS lists steps whose current output is wrong. Their golden files hold the output the
 * contract asks for (written by hand, never regenerated); they run as `it.fails`, so they turn
 * red — as a reminder to move them back to ordinary steps — once the bug is fixed.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const CLI = path.join(ROOT, 'bin/zonefuse.js');
const GOLDEN_DIR = path.join(ROOT, 'test/golden/cli');
const UPDATE = process.env.ZONEFUSE_UPDATE_GOLDEN === '1';

/** Steps whose output is wrong today (see the bug notes); golden = what it should be. */
const KNOWN_BUGS: Record<string, string> = {};

let TMP = '';
let TMP_REAL = '';

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Replace what legitimately changes from run to run with placeholders. */
function normalise(text: string): string {
  let t = text;
  for (const p of [TMP_REAL, TMP]) if (p) t = t.split(p).join('$TMP');
  t = t.replace(/\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b/g, '<uuid>');
  t = t.replace(/\b\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z\b/g, '<time>');
  t = t.replace(/\bpid \d+/g, 'pid <pid>');
  t = t.replace(new RegExp(` on ${escapeRe(os.hostname())} \\(`, 'g'), ' on <host> (');
  t = t.replace(/stored 0x[0-9a-f]+, computed 0x[0-9a-f]+/g, 'stored 0x<crc>, computed 0x<crc>');
  t = t.replace(/^data_file_allocated: [1-9]\d*$/gm, 'data_file_allocated: <nonzero>');
  return t;
}

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

function zonefuse(args: string[]): Result {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    encoding: 'utf8',
    cwd: TMP,
    // Non-TTY stdout: commander wraps help at 80 columns.
    env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' },
    timeout: 20_000,
  });
  if (r.error) throw r.error;
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function section(text: string): string {
  if (text === '' || text.endsWith('\n')) return text;
  return text + '\n\\ no newline at end\n';
}

function render(args: string[], r: Result): string {
  return normalise(
    `$ zonefuse ${args.join(' ')}\n` +
      `exit: ${r.code}\n` +
      `--- stdout\n${section(r.stdout)}` +
      `--- stderr\n${section(r.stderr)}`,
  );
}

/** Run the CLI and compare (or, in update mode, record) test/golden/cli/<name>.txt. */
function golden(name: string, args: string[]): Result {
  const r = zonefuse(args);
  const actual = render(args, r);
  const file = path.join(GOLDEN_DIR, `${name}.txt`);
  if (UPDATE && !(name in KNOWN_BUGS)) {
    fs.mkdirSync(GOLDEN_DIR, { recursive: true });
    fs.writeFileSync(file, actual);
    return r;
  }
  if (!fs.existsSync(file)) throw new Error(`${file} is missing: run with ZONEFUSE_UPDATE_GOLDEN=1 to create it`);
  expect(actual, `output of \`zonefuse ${args.join(' ')}\` differs from ${path.relative(ROOT, file)}`).toBe(fs.readFileSync(file, 'utf8'));
  return r;
}

/** A golden step; known-bug steps are expected to fail (and are not run in update mode). */
function step(name: string, args: () => string[], extra?: (r: Result) => void): void {
  const bug = KNOWN_BUGS[name];
  if (bug === undefined) {
    it(name, () => {
      const r = golden(name, args());
      extra?.(r);
    });
  } else if (UPDATE) {
    it.skip(`${name} (known bug, golden kept: ${bug})`, () => undefined);
  } else {
    it.fails(`${name} (known bug: ${bug})`, () => {
      golden(name, args());
    });
  }
}

// ---------------------------------------------------------------------------------------------
// A process that owns a store while the CLI looks at it (what a mount daemon does): it writes
// zones into varied states, keeps two zones open, and waits to be killed.

const HOLDER = `
import { Store } from ${JSON.stringify(pathToFileURL(path.join(ROOT, 'dist/store/store.js')).href)};
const st = Store.open(process.env.ZF_STORE, { command: 'golden-holder' });
const ns = st.get('nvme0n1');
const L = ns.lbaSize, zl = ns.engine.zoneLbas, cap = ns.engine.capLbas;
const ok = (r) => { if (r !== undefined) throw new Error(JSON.stringify(r)); };
const w = (z, n, byte) => ok(ns.write(z * zl + ns.engine.dataLbas(z), Buffer.alloc(n * L, byte), 0, n * L));
w(1, 16, 1); ok(ns.manage('close', 1));        // Closed, 16 LBAs
w(2, cap, 2);                                   // written to capacity: Full
w(7, 8, 7); ok(ns.manage('finish', 7));         // finished after 8 LBAs: Full
w(8, 100, 8);                                   // Implicitly Opened, 100 LBAs
ok(ns.manage('open', 9)); w(9, 4, 9);           // Explicitly Opened, 4 LBAs
ok(ns.manage('open', 10));                      // Explicitly Opened, empty
ns.flush();
process.stdout.write('ready\\n');
process.stdin.on('end', () => process.exit(0)); // never outlive the test
process.stdin.resume();
`;

function startHolder(store: string): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', HOLDER], {
      env: { ...process.env, ZF_STORE: store },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout!.setEncoding('utf8').on('data', (c: string) => {
      out += c;
      if (out.includes('ready\n')) resolve(child);
    });
    child.stderr!.setEncoding('utf8').on('data', (c: string) => (err += c));
    child.on('error', reject);
    child.on('exit', (code) => reject(new Error(`holder exited (${code}) before it was ready: ${err}`)));
  });
}

function killHard(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

function flipByte(file: string, offset: number): void {
  const fd = fs.openSync(file, 'r+');
  try {
    const b = Buffer.alloc(1);
    fs.readSync(fd, b, 0, 1, offset);
    b[0] = b[0]! ^ 0x55;
    fs.writeSync(fd, b, 0, 1, offset);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Copy a store's namespace files. With `sparse`, all-zero 4 KiB blocks of the data file stay
 * holes (as `cp --sparse=always` would do); without, every byte is written.
 */
function copyStore(from: string, to: string, sparse: boolean): void {
  fs.mkdirSync(to);
  fs.copyFileSync(path.join(from, 'nvme0n1.zmeta'), path.join(to, 'nvme0n1.zmeta'));
  const src = fs.openSync(path.join(from, 'nvme0n1.data'), 'r');
  const dst = fs.openSync(path.join(to, 'nvme0n1.data'), 'w');
  try {
    const size = fs.fstatSync(src).size;
    fs.ftruncateSync(dst, size);
    const buf = Buffer.alloc(1 << 20);
    const zero = Buffer.alloc(4096);
    for (let pos = 0; pos < size; pos += buf.length) {
      const n = fs.readSync(src, buf, 0, Math.min(buf.length, size - pos), pos);
      for (let b = 0; b < n; b += 4096) {
        const blk = buf.subarray(b, Math.min(n, b + 4096));
        if (!sparse || !blk.equals(zero.subarray(0, blk.length))) fs.writeSync(dst, blk, 0, blk.length, pos + b);
      }
    }
  } finally {
    fs.closeSync(src);
    fs.closeSync(dst);
  }
}

// Sidecar layout (src/store/format.ts): 4096-byte header, then one 64-byte record per zone;
// a record's write pointer is at byte 8.
const HEADER_SIZE = 4096;
const RECORD_SIZE = 64;

// ---------------------------------------------------------------------------------------------

describe('zonefuse CLI golden output', () => {
  let holder: ChildProcess | undefined;
  const A = (): string => path.join(TMP, 'A');
  const B = (): string => path.join(TMP, 'B');
  const GEO = ['--size', '64M', '--zone-size', '4M', '--zone-capacity', '3M', '--conv-zones', '1', '--max-open', '3', '--max-active', '4'];

  beforeAll(() => {
    if (!fs.existsSync(path.join(ROOT, 'dist/cli/main.js'))) throw new Error('dist/ is missing: run `npm run build` first');
    TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'zonefuse-golden-'));
    TMP_REAL = fs.realpathSync(TMP);
  });

  afterAll(async () => {
    if (holder) await killHard(holder);
    if (TMP) fs.rmSync(TMP, { recursive: true, force: true });
  });

  // --- help ------------------------------------------------------------------------------------
  step('01-help', () => ['--help']);
  step('02-create-help', () => ['create', '--help']);

  // --- a store, zone commands on it while it is not mounted ------------------------------------
  step('03-create', () => ['create', A(), ...GEO]);
  step('04-info-new', () => ['info', A()]);
  step('05-zone-finish-empty', () => ['zone', 'finish', A(), '3']);
  step('06-zone-readonly', () => ['zone', 'readonly', A(), '4']);
  step('07-zone-offline', () => ['zone', 'offline', A(), '5']);

  // --- while another process owns the store (as a daemon would) --------------------------------
  it('(start a process that owns store A and writes zones 1, 2, 7, 8, 9, 10)', async () => {
    holder = await startHolder(A());
  });
  step('08-report-live-blkzone', () => ['report', A()]);
  step('09-report-live-nvme', () => ['report', A(), '--format', 'nvme']);
  step('10-info-live', () => ['info', A()]);
  step('11-zone-store-busy', () => ['zone', 'finish', A(), '11']);
  it('(kill -9 the owner: zones 8, 9 and 10 are left open in the sidecar)', async () => {
    await killHard(holder!);
    holder = undefined;
  });

  // --- zone command errors (the first one also recovers the store from the crash) -------------
  step('12-zone-close-empty', () => ['zone', 'close', A(), '12']);
  step('13-zone-open-full', () => ['zone', 'open', A(), '2']);
  step('14-zone-reset-offline', () => ['zone', 'reset', A(), '5']);
  step('15-zone-conventional', () => ['zone', 'finish', A(), '0']);
  step('16-zone-out-of-range', () => ['zone', 'finish', A(), '16']);
  step('17-zone-bad-action', () => ['zone', 'frobnicate', A(), '1']);
  step('18-zone-unknown-ns', () => ['zone', 'finish', A(), '11', '--ns', 'nvme0n9']);

  // --- reports after recovery -------------------------------------------------------------------
  step('19-report-blkzone', () => ['report', A()]);
  step('20-report-nvme', () => ['report', A(), '--format', 'nvme']);
  step('21-report-json', () => ['report', A(), '--format', 'json'], (r) => {
    const j = JSON.parse(r.stdout) as { nr_zones: number; zones: unknown[] };
    expect(j.nr_zones).toBe(16);
    expect(j.zones).toHaveLength(16);
  });
  step('22-report-filter-full', () => ['report', A(), '--filter', 'full']);
  step('23-report-from-count', () => ['report', A(), '--from', '3072', '--count', '3']);
  step('24-report-json-from-count', () => ['report', A(), '--format', 'json', '--from', '8192', '--count', '2']);
  step('25-report-nvme-filter-count', () => ['report', A(), '--format', 'nvme', '--filter', 'closed', '--count', '2']);
  step('26-info-after', () => ['info', A()]);
  it('(data_file_allocated covers the 896 LBAs written)', () => {
    const r = zonefuse(['info', A()]);
    const m = /^data_file_allocated: (\d+)$/m.exec(r.stdout);
    expect(Number(m?.[1])).toBeGreaterThanOrEqual(896 * 4096);
    expect(Number(m?.[1])).toBeLessThan(896 * 4096 + 1024 * 1024);
  });
  step('27-check', () => ['check', A()]);

  // --- big-endian metadata, several namespaces --------------------------------------------------
  step('28-create-big-endian', () => ['create', B(), '--endianness', 'big', '--size', '16M', '--zone-size', '1M']);
  step('29-info-big-endian', () => ['info', B()]);
  step('30-report-big-endian', () => ['report', B(), '--count', '3']);
  step('31-create-second-ns', () => ['create', B(), '--ns', 'scratch', '--no-zoned', '--size', '1M']);
  step('32-report-several-ns', () => ['report', B()]);
  step('33-report-not-zoned', () => ['report', B(), '--ns', 'scratch']);
  step('34-check-two-ns', () => ['check', B()]);

  // --- bad input: one line, non-zero exit -------------------------------------------------------
  step('35-create-bad-size', () => ['create', path.join(TMP, 'X1'), '--size', '10X']);
  step('36-create-cap-above-size', () => ['create', path.join(TMP, 'X2'), '--size', '64M', '--zone-size', '4M', '--zone-capacity', '8M']);
  step('37-create-open-above-active', () => ['create', path.join(TMP, 'X3'), '--max-open', '5', '--max-active', '3']);
  step('38-create-duplicate-ns', () => ['create', A(), '--ns', 'nvme0n1']);
  step('39-report-missing-store', () => ['report', path.join(TMP, 'missing')]);
  step('40-check-missing-store', () => ['check', path.join(TMP, 'missing')]);

  // --- damaged sidecars -------------------------------------------------------------------------
  it('(copy store A to C and D, keeping holes; flip a header byte of C and a byte of zone 2\'s record in D)', () => {
    for (const d of ['C', 'D']) copyStore(A(), path.join(TMP, d), true);
    flipByte(path.join(TMP, 'C', 'nvme0n1.zmeta'), 200); // inside the header (namespace name field)
    flipByte(path.join(TMP, 'D', 'nvme0n1.zmeta'), HEADER_SIZE + 2 * RECORD_SIZE + 8); // zone 2's write pointer
  });
  step('41-check-corrupt-header', () => ['check', path.join(TMP, 'C')]);
  step('42-report-corrupt-header', () => ['report', path.join(TMP, 'C')]);
  step('43-check-corrupt-record', () => ['check', path.join(TMP, 'D')]);
  step('44-report-corrupt-record', () => ['report', path.join(TMP, 'D')]);
  step('45-check-repair-record', () => ['check', '--repair', path.join(TMP, 'D')]);
  step('46-check-after-repair', () => ['check', path.join(TMP, 'D')]);
  step('47-report-after-repair', () => ['report', path.join(TMP, 'D'), '--count', '3']);

  // A copy made by a tool that does not keep holes: every byte of the data file is allocated.
  it('(copy store A to E without holes; flip a byte of zone 2\'s record)', () => {
    copyStore(A(), path.join(TMP, 'E'), false);
    flipByte(path.join(TMP, 'E', 'nvme0n1.zmeta'), HEADER_SIZE + 2 * RECORD_SIZE + 8);
  });
  step('48-check-non-sparse', () => ['check', path.join(TMP, 'E')]);
  step('49-check-repair-non-sparse', () => ['check', '--repair', path.join(TMP, 'E')]);
  step('50-check-after-repair-non-sparse', () => ['check', path.join(TMP, 'E')]);
});

// ---------------------------------------------------------------------------------------------
// Known bugs that are not about one command's text: each asserts the behaviour the contract
// asks for and is expected to fail until the bug is fixed.

describe('zonefuse CLI: fixed bugs stay fixed', () => {
  let dir = '';
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zonefuse-golden-bugs-'));
  });
  afterAll(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });
  const run = (...args: string[]): Result => {
    const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };

  it('zone open/close on an unmounted store is refused (a stopped device has no open zones)', () => {
    const s = path.join(dir, 'open');
    run('create', s, '--size', '16M', '--zone-size', '1M');
    const r = run('zone', 'open', s, '5');
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`zonefuse: zone open only means something on a running device: mount ${s} and use its mount point\n`);
    const json = JSON.parse(run('report', s, '--format', 'json', '--from', String(5 * 256), '--count', '1').stdout) as { zones: Array<{ state: string }> };
    expect(json.zones[0]!.state).toBe('EMPTY');
  });

  it('a refused create leaves no store directory behind', () => {
    const s = path.join(dir, 'refused');
    const r = run('create', s, '--max-open', '5', '--max-active', '3');
    expect(r.code).toBe(1);
    expect(fs.existsSync(s)).toBe(false);
  });

  it('check --repair of a finished, partly written zone leaves a usable store', () => {
    const s = path.join(dir, 'repair');
    run('create', s, '--size', '64M', '--zone-size', '4M', '--conv-zones', '1', '--max-open', '3', '--max-active', '4');
    const code = `
      import { StoredNamespace } from ${JSON.stringify(pathToFileURL(path.join(ROOT, 'dist/store/stored-namespace.js')).href)};
      const ns = StoredNamespace.open(process.env.ZF_STORE, 'nvme0n1');
      const buf = Buffer.alloc(4 * 4096, 0xab);
      const ok = (r) => { if (r !== undefined) throw new Error(JSON.stringify(r)); };
      ok(ns.write(5 * 1024, buf, 0, buf.length)); ok(ns.manage('finish', 5));
      for (const z of [1, 2, 3, 4]) { ok(ns.write(z * 1024, buf, 0, buf.length)); ok(ns.manage('close', z)); }
      ns.close();`;
    const w = spawnSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8', env: { ...process.env, ZF_STORE: s } });
    expect(w.status, w.stderr).toBe(0);
    flipByte(path.join(s, 'nvme0n1.zmeta'), HEADER_SIZE + 5 * RECORD_SIZE + 8);
    expect(run('check', '--repair', s).code).toBe(0);
    // Rebuilt as Closed it would make 5 active zones (limit 4): it is finished instead.
    const after = run('check', s);
    expect(after.stdout).toMatch(/0 errors/);
    expect(run('report', s).code).toBe(0);
  });
});
