/**
 * Thousands of random and mutated command lines into a namespace's `ctl` and the top-level `ctl`
 * over a real mount (seeded: see test/helpers/fuzz.ts). The daemon never dies or hangs; every
 * refusal is an errno plus a new `errors` line; a refused write changes nothing (zone report,
 * faults, info and the data below the write pointers, byte for byte); a write refused part-way
 * is a short write (its first lines done). The verbs come from the parsers' own lists, so new
 * commands are fuzzed as soon as they exist.
 */
import * as fs from 'node:fs';
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { CONTROL_VERBS } from '../../src/control/commands.js';
import { CREATE_OPTION_KEYS, SUBSYSTEM_VERBS } from '../../src/control/subsystem.js';
import { Fixture, mounted } from '../helpers/mount.js';
import { FUZZ_SCALE, Fuzz, fuzz, mutate } from '../helpers/fuzz.js';

// Small and full of features: capacity < zone size, descriptor extensions, a ZRWA, and reset /
// finish recommended limits so long that neither real time nor the fuzzer's `clock` steps reach
// them (a change the device makes on its own in the middle would look like a refused command's).
const GEO = ['--size', '2M', '--zone-size', '128K', '--zone-capacity', '96K', '--lba-size', '512', '--conv-zones', '1', '--max-open', '3', '--max-active', '4', '--descr-ext-size', '64',
  '--zrwas', '8K', '--zrwafg', '1K', '--numzrwa', '2', '--rrl', '200000', '--frl', '300000'];
const NR_ZONES = 16;
const NLBA = 4096;

/** Any file operation on the mount, bounded: a hung daemon fails the test instead of blocking it. */
async function bounded<T>(what: string, p: Promise<T>, ms = 30_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer in ${ms} ms (daemon hung?)`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

type Outcome = { kind: 'accepted' } | { kind: 'refused'; code: string } | { kind: 'partial'; written: number };

/** One write of `text` to a ctl file, as one write(2). */
async function writeCtl(file: string, text: Buffer): Promise<Outcome> {
  const fh = await bounded(`open ${file}`, fs.promises.open(file, 'w'));
  try {
    const { bytesWritten } = await bounded(`write ${file}`, fh.write(text, 0, text.length));
    return bytesWritten === text.length ? { kind: 'accepted' } : { kind: 'partial', written: bytesWritten };
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === undefined) throw e;
    // Node has no name for some Linux errnos (ETOOMANYREFS is 109).
    return { kind: 'refused', code: err.errno === -109 ? 'ETOOMANYREFS' : err.code };
  } finally {
    await fh.close().catch(() => undefined);
  }
}

const read = (file: string): Promise<string> => bounded(`read ${file}`, fs.promises.readFile(file, 'utf8'));

/** Everything a refused namespace command must leave as it was. */
async function namespaceState(f: Fixture): Promise<string> {
  const dir = `${f.mnt}/nvme0n1.zones`;
  const [report, faults] = [await read(`${dir}/report.json`), await read(`${dir}/faults`)];
  // The device's clock runs on its own: not part of the state.
  const info = (await read(`${dir}/info`)).replace(/^device_time: .*$/m, '');
  // The data the device shows: conventional zones whole, sequential zones below the write pointer
  // (Full: the capacity). Read from the data file, so injected read faults do not get in the way.
  const data = fs.readFileSync(`${f.store}/nvme0n1.data`);
  const h = createHash('sha256');
  for (const z of (JSON.parse(report) as { zones: { start: number; len: number; cap: number; wp: number | null; type: string; state: string }[] }).zones) {
    const end = z.type === 'CONVENTIONAL' ? z.start + z.len : z.state === 'FULL' ? z.start + z.cap : z.wp;
    if (end !== null) h.update(data.subarray(z.start * 512, end * 512));
  }
  return `${report}\n${faults}\n${info}\n${h.digest('hex')}`;
}

/** Everything a refused subsystem command must leave as it was: its info and the store's files. */
async function subsystemState(f: Fixture): Promise<string> {
  const files = fs.readdirSync(f.store).sort().map((n) => `${n}:${fs.statSync(`${f.store}/${n}`).size}`);
  return `${await read(`${f.mnt}/info`)}\n${files.join(' ')}\n${fs.readdirSync(f.mnt).sort().join(' ')}`;
}

function zoneWord(z: Fuzz): string {
  return z.pick([String(z.int(NR_ZONES)), String(z.int(NR_ZONES)), String(z.int(NR_ZONES)), 'all', String(NR_ZONES), String(NR_ZONES + z.int(1000)), '-1', '00', '1.0', '0x3', '4294967296', '9'.repeat(25), '']);
}

/** A well-formed-looking command for the verbs we know the shape of (others: random words). */
function plausibleLine(z: Fuzz): string {
  const verb = z.pick(CONTROL_VERBS) as string;
  const zone = String(z.int(NR_ZONES));
  switch (verb) {
    case 'open':
      return `open ${z.chance(0.1) ? 'all' : zone}${z.chance(0.3) ? ' zrwa' : ''}`;
    case 'close': case 'finish': case 'reset': case 'offline':
      return `${verb} ${z.chance(0.1) ? 'all' : zone}`;
    case 'zrwa-flush':
      return `zrwa-flush ${zone} ${Number(zone) * 256 + z.int(256)}`;
    case 'clock':
      return `clock +${z.int(200)}`;
    case 'mark':
      return `mark ${z.junk(1 + z.int(20))}`;
    case 'readonly':
      return `readonly ${zone}`;
    case 'set-ext':
      return `set-ext ${zone} ${'5a'.repeat(64)}`;
    case 'recommend':
      return `recommend ${z.pick(['reset', 'finish'])} ${zone}${z.pick(['', ' off'])}`;
    case 'cache':
      return `cache ${z.pick(['on', 'off'])}`;
    case 'fault':
      return z.pick([`fault ${z.pick(['read', 'write', 'rw'])} ${z.int(NLBA - 8)} ${1 + z.int(8)}${z.pick(['', ' once', ' partial'])}`, `fault random ${z.int(1000)} ${z.int(50)} ${z.int(50)}`, 'fault clear']);
    case 'flush': case 'power-cycle': case 'shutdown':
      return verb;
    default:
      return `${verb} ${zone}`;
  }
}

function namespaceLine(z: Fuzz): string {
  if (z.chance(0.5)) return plausibleLine(z);
  const verb = z.chance(0.9) ? z.pick(CONTROL_VERBS) : z.pick(['OPEN', 'opens', 'zrwa', 'help', z.junk(1 + z.int(8)), '']);
  const words = [verb];
  const n = z.int(5);
  for (let i = 0; i < n; i++) {
    words.push(z.pick([
      zoneWord(z), zoneWord(z), String(z.int(NLBA)), String(NLBA - z.int(3)), String(z.int(2 ** 32)),
      z.pick(['on', 'off', 'once', 'partial', 'reset', 'finish', 'clear', 'random', 'read', 'write', 'rw', 'all', 'zrwa', 'force']),
      z.pick(['keep=none', 'keep=all', 'keep=prefix:7', 'keep=', 'keep=bogus', '+5', '+0', '+1.5', '+99999999999', '-5']),
      Buffer.from(Array.from({ length: z.pick([0, 1, 32, 64, 65, 200]) }, () => z.int(256))).toString('hex'),
      z.junk(1 + z.int(6)),
    ]));
  }
  return words.join(' ');
}

function subsystemLine(z: Fuzz): string {
  if (z.chance(0.4)) {
    // Well-formed, so that namespaces come and go and the refusals meet them.
    const n = `fz${1 + z.int(3)}`;
    return z.pick([
      `create ${n} size=${z.pick(['4M', '8M'])} zone-size=1M${z.pick(['', ' lba-size=512', ' conv-zones=1', ' volatile-cache=yes', ' endianness=big', ' zoned=no'])}`,
      `delete ${n}${z.pick(['', ' force'])}`, `detach ${n}`, `attach ${n}`,
    ]);
  }
  const name = z.pick(['fz1', 'fz2', 'fz3', 'fz1', 'nvme0n1', 'nope', '', '..', 'ctl', 'a/b', 'x.zones', 'n'.repeat(70), z.junk(4)]);
  const verb = z.chance(0.9) ? z.pick(SUBSYSTEM_VERBS) : z.junk(1 + z.int(6));
  const words = [verb];
  if (z.chance(0.85)) words.push(name);
  if (verb === 'create' || z.chance(0.2)) {
    const n = z.int(6);
    for (let i = 0; i < n; i++) {
      const key = z.chance(0.9) ? z.pick(CREATE_OPTION_KEYS) : z.junk(3);
      const value = z.pick(['0', '1', '512', '4096', '4K', '64K', '1M', '3M', '4M', '16M', '64M', '1G', '16G', '1P', '1.5M', 'yes', 'no', 'little', 'big', '-1', '', z.junk(3)]);
      words.push(`${key}=${value}`);
    }
    // Keep namespaces small: a big random one would only slow the run down.
    if (!words.some((w) => w.startsWith('size='))) words.push('size=4M');
    if (!words.some((w) => w.startsWith('zone-size='))) words.push('zone-size=1M');
  }
  if (verb === 'delete' && z.chance(0.5)) words.push('force');
  return words.join(' ');
}

/** A generated line, often mutated, sometimes several lines or invalid UTF-8 in one write. */
function payload(z: Fuzz, gen: (z: Fuzz) => string): Buffer {
  let text = gen(z);
  if (z.chance(0.4)) text = mutate(z, text);
  if (z.chance(0.08)) text = `${text}\n${gen(z)}\n${gen(z)}`;
  if (z.chance(0.15)) text += '\n';
  const buf = Buffer.from(text);
  if (z.chance(0.03)) return Buffer.concat([buf, Buffer.from([0xff, 0xfe, 0xc3])]);
  return buf;
}

async function alive(f: Fixture): Promise<void> {
  expect(f.daemon.exitCode, `daemon exited: ${f.daemon.stderr.slice(-2000)}`).toBeNull();
  await bounded('stat the mount', fs.promises.stat(`${f.mnt}/info`));
}

/** Put data and some variety back, so the fuzzer keeps meeting zones with something in them. */
async function refill(f: Fixture, z: Fuzz): Promise<void> {
  for (const line of ['fault clear', 'cache off', 'reset all']) await writeCtl(`${f.mnt}/nvme0n1.zones/ctl`, Buffer.from(line));
  const fh = await bounded('open the namespace', fs.promises.open(f.ns(), 'r+'));
  try {
    for (let zone = 0; zone < 6; zone++) {
      const len = 512 * (1 + z.int(100));
      await bounded('write', fh.write(Buffer.alloc(len, zone + 1), 0, len, zone * 128 * 1024)).catch(() => undefined);
    }
  } finally {
    await fh.close().catch(() => undefined);
  }
}

interface Tally { accepted: number; refused: number; partial: number }

async function fuzzCtl(f: Fixture, z: Fuzz, opts: {
  ctl: string; errors: string; lines: number; gen: (z: Fuzz) => string; state: () => Promise<string>;
  /** Runs before line i; true when it changed the device. */
  every?: (i: number) => Promise<boolean>;
}): Promise<Tally> {
  const tally: Tally = { accepted: 0, refused: 0, partial: 0 };
  let state = await opts.state();
  for (let i = 0; i < opts.lines; i++) {
    if (await opts.every?.(i)) state = await opts.state();
    const text = payload(z, opts.gen);
    const what = `line ${i} ${JSON.stringify(text.toString('latin1'))} (seed ${z.seed})`;
    const errorsBefore = await read(opts.errors);
    const out = await writeCtl(opts.ctl, text);
    await alive(f);
    if (out.kind === 'accepted') {
      tally.accepted++;
      state = await opts.state();
      continue;
    }
    const errorsAfter = await read(opts.errors);
    expect(errorsAfter, `${what}: refused without an errors line`).not.toBe(errorsBefore);
    expect(errorsAfter.trimEnd().split('\n').pop(), what).toMatch(/ errno=E[A-Z]+/);
    if (out.kind === 'partial') {
      tally.partial++;
      expect(out.written, what).toBeGreaterThan(0);
      expect(text.subarray(0, out.written).toString('latin1'), `${what}: a short write ends at a line end`).toMatch(/\n$/);
      state = await opts.state();
      continue;
    }
    tally.refused++;
    expect(['EINVAL', 'EIO', 'EOVERFLOW', 'ETOOMANYREFS', 'EBUSY', 'EEXIST', 'ENOENT', 'ENOSPC', 'EPERM'], `${what}: errno`).toContain(out.code);
    expect(await opts.state(), `${what}: a refused command changed something`).toBe(state);
  }
  return tally;
}

describe('fuzzed control files', () => {
  it('a namespace ctl: never a crash or a hang; refusals explained and without effect', { timeout: 900_000 }, async () => {
    const z = fuzz('namespace ctl fuzz');
    const f = await mounted(GEO);
    const lines = Math.round(2000 * FUZZ_SCALE);
    const tally = await fuzzCtl(f, z, {
      ctl: `${f.mnt}/nvme0n1.zones/ctl`, errors: `${f.mnt}/nvme0n1.zones/errors`, lines,
      gen: namespaceLine, state: () => namespaceState(f),
      every: async (i) => {
        if (i % 150 !== 0) return false;
        await refill(f, z);
        return true;
      },
    });
    console.log(`namespace ctl fuzz: ${lines} writes: ${tally.accepted} accepted, ${tally.refused} refused, ${tally.partial} refused part-way`);
    expect(tally.accepted).toBeGreaterThan(lines / 20);
    expect(tally.refused).toBeGreaterThan(lines / 4);
  });

  it('the top-level ctl: never a crash or a hang; refusals explained and without effect', { timeout: 900_000 }, async () => {
    const z = fuzz('subsystem ctl fuzz');
    const f = await mounted(GEO);
    const lines = Math.round(600 * FUZZ_SCALE);
    const tally = await fuzzCtl(f, z, {
      ctl: `${f.mnt}/ctl`, errors: `${f.mnt}/errors`, lines, gen: subsystemLine, state: () => subsystemState(f),
    });
    console.log(`subsystem ctl fuzz: ${lines} writes: ${tally.accepted} accepted, ${tally.refused} refused, ${tally.partial} refused part-way`);
    expect(tally.accepted).toBeGreaterThan(lines / 50);
    expect(tally.refused).toBeGreaterThan(lines / 4);
    // Whatever it did, the daemon still serves and stops cleanly.
    await f.daemon.stop();
    expect(f.daemon.exitCode).toBe(0);
  });
});
