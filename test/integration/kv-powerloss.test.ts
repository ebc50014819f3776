/**
 * The example key-value store (examples/kv-store/kv.mjs) against power loss: a mounted zonefuse
 * with the volatile write cache on, driven through the library from this process (the daemon is
 * another one), power-cycled at random points (between operations, in the middle of one, in the
 * middle of garbage collection) many times; after every recovery each key flushed before the
 * power cut must still be there. The same loop briefly in-process, and the README's "Using
 * zonefuse from code" snippet run as a new user would.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { describe, it, expect } from 'vitest';
// The example imports 'zonefuse' (the package's own export: dist/index.js): use the same module.
import { openDevice, ZoneError, type ZonedDevice } from '../../dist/index.js';
import { ZonedKV } from '../../examples/kv-store/kv.mjs';
import { ROOT, cli, mounted } from '../helpers/mount.js';
import { tmpDir } from '../helpers/tmp.js';
import { mulberry32 } from '../helpers/prng.mjs';

// Small zones (capacity below the zone size) so the store fills the device and GC runs often;
// one conventional zone the store must leave alone; a 64 KiB (16-LBA) zone append limit.
const GEO = ['--size', '32M', '--zone-size', '1M', '--zone-capacity', '768K', '--conv-zones', '1',
  '--max-open', '4', '--max-active', '6', '--zasl', '64K', '--volatile-cache'];


class PowerCut extends Error {}

const MUTATING = new Set(['append', 'write', 'flush', 'reset', 'finish', 'open', 'close']);

/**
 * A device whose power can be cut at the Nth mutating command: before it runs (the command is
 * lost) or after it ran (acknowledged, but the caller never hears of it). Either way the device
 * power-cycles and every later call throws, like a host that went down with it.
 */
function cuttable(dev: ZonedDevice) {
  const s = { countdown: Infinity, onlyWhen: () => true, after: false, cut: false, cutInGc: false, gcActive: () => false };
  const cutNow = (): never => {
    s.cut = true;
    s.cutInGc = s.gcActive();
    dev.powerCycle('power-loss');
    throw new PowerCut('power cut');
  };
  const device = new Proxy(dev, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (typeof v !== 'function') return v;
      return (...args: unknown[]) => {
        if (s.cut) throw new PowerCut('device is gone');
        if (MUTATING.has(String(prop)) && s.onlyWhen() && --s.countdown <= 0) {
          if (s.after) (v as (...a: unknown[]) => unknown).apply(target, args);
          cutNow();
        }
        return (v as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { device, s, cutNow: () => { try { cutNow(); } catch { /* expected */ } } };
}

interface Counts {
  seed: number; cycles: number; ops: number; flushes: number; keysChecked: number; keysLost: number; wrongValues: number;
  gcRuns: number; gcCopiedLbas: number; cutsAtCommand: number; cutsBetweenOps: number; cutsInGc: number; tornZones: number; tornWrites: number; oversizeRefused: number;
}

/**
 * `cycles` times: open the device, recover the store, check it against what was flushed before
 * the last power cut, then run random puts/deletes/flushes until the power is cut.
 */
async function powerLoop(openDev: () => ZonedDevice, cycles: number, seed: number): Promise<Counts> {
  const rnd = mulberry32(seed);
  const int = (lo: number, hi: number): number => lo + Math.floor(rnd() * (hi - lo + 1));
  const KEYS = Array.from({ length: 500 }, (_, i) => (i % 10 === 0 ? `clé-${i}-${'x'.repeat(i % 300)}` : `key-${i}`));
  const ABC = 'abcdefghijklmnopqrstuvwxyz0123456789';
  let n = 0;
  const valueFor = (k: string): string => {
    const id = `${k}#${++n}:`;
    const len = int(0, 20_000);
    let fill = '';
    while (fill.length < len) fill += ABC.slice(n % ABC.length) + ABC;
    return id + fill.slice(0, len);
  };

  const c: Counts = { seed, cycles: 0, ops: 0, flushes: 0, keysChecked: 0, keysLost: 0, wrongValues: 0, gcRuns: 0, gcCopiedLbas: 0, cutsAtCommand: 0, cutsBetweenOps: 0, cutsInGc: 0, tornZones: 0, tornWrites: 0, oversizeRefused: 0 };
  // The model: each key's value as of the last flush (absent = not there), and every value
  // (null = deleted) written since; after a power cut the key must hold one of them.
  let flushed = new Map<string, string>();
  let since = new Map<string, Set<string | null>>();
  const wrote = (k: string, v: string | null): void => {
    if (!since.has(k)) since.set(k, new Set());
    since.get(k)!.add(v);
  };

  for (let cycle = 0; cycle < cycles; cycle++) {
    const dev = openDev();
    dev.clearFaults(); // a torn-write fault armed before the last cut would still be there
    const cut = cuttable(dev);
    const kv = ZonedKV.open(cut.device); // recovery
    c.tornZones += kv.counters.torn;

    // Check every key against the model.
    const current = new Map<string, string>();
    for (const k of KEYS) {
      const got = kv.get(k)?.toString() ?? null;
      const f = flushed.get(k) ?? null;
      const ok = f === got || (since.get(k)?.has(got) ?? false);
      if (f !== null) {
        c.keysChecked++;
        if (!ok) c.keysLost++;
      } else if (!ok) c.wrongValues++; // a value nobody wrote, or a key that came back
      if (got !== null) current.set(k, got);
    }
    for (const k of kv.keys()) if (!KEYS.includes(k)) c.wrongValues++;
    if (c.keysLost + c.wrongValues > 0) {
      dev.dispose();
      throw new Error(`seed ${seed}, cycle ${cycle}: ${c.keysLost} flushed keys lost, ${c.wrongValues} wrong values`);
    }
    // What survived is on the media: it is the new baseline.
    flushed = new Map(current);
    since = new Map();

    // Where the power goes this time: at the Nth mutating command, before or after it runs; in
    // some cycles counting only the commands garbage collection issues (copies, flush, reset).
    cut.s.gcActive = () => kv.gcActive;
    cut.s.countdown = int(1, 300);
    cut.s.after = rnd() < 0.5;
    if (rnd() < 0.3) {
      cut.s.onlyWhen = () => kv.gcActive;
      cut.s.countdown = int(1, 10);
    }
    try {
      for (let i = 0; i < 600; i++) {
        const r = rnd();
        // Skewed: hot keys are rewritten often, cold ones stay live in old zones, so GC has to copy.
        const k = KEYS[rnd() < 0.8 ? int(0, 49) : int(0, KEYS.length - 1)]!;
        c.ops++;
        if (r < 0.65) {
          const v = valueFor(k);
          wrote(k, v);
          kv.put(k, v);
          current.set(k, v);
        } else if (r < 0.85) {
          if (current.has(k)) wrote(k, null);
          expect(kv.delete(k)).toBe(current.has(k));
          current.delete(k);
        } else if (r < 0.93) {
          kv.flush();
          c.flushes++;
          flushed = new Map(current);
          since = new Map();
        } else if (r < 0.94) {
          // Larger than the zone append limit: refused before anything is written.
          expect(() => kv.put(k, 'v'.repeat(70_000))).toThrow(/needs 18 LBAs; records are at most 16 LBAs here \(the zone append size limit\)/);
          c.oversizeRefused++;
        } else if (r < 0.945 && kv.head && kv.head.used + 2 <= kv.head.cap) {
          // A torn write: the record's first LBA lands, the second fails (Write Fault). The store
          // seals the zone; recovery must stop scanning it at the torn record.
          const head = kv.head;
          cut.device.addBadRange({ kind: 'write', start: head.start + head.used + 1, count: 1, partial: true, once: true });
          const v = `${k}#torn:${'y'.repeat(5000)}`;
          wrote(k, v);
          let err: unknown;
          try {
            kv.put(k, v);
          } catch (e) {
            err = e;
          }
          if (err instanceof PowerCut) throw err;
          expect(err).toBeInstanceOf(ZoneError);
          expect((err as ZoneError).status.name).toBe('Write Fault');
          expect(kv.head).not.toBe(head);
          c.tornWrites++;
        } else {
          expect(kv.get(k)?.toString()).toBe(current.get(k)); // reads its own writes
        }
      }
      cut.cutNow(); // the countdown did not run out: cut between two operations
      c.cutsBetweenOps++;
    } catch (e) {
      if (!(e instanceof PowerCut)) throw e;
      c.cutsAtCommand++;
    }
    if (cut.s.cutInGc) c.cutsInGc++;
    c.gcRuns += kv.counters.gcRuns;
    c.gcCopiedLbas += kv.counters.gcCopiedLbas;
    c.cycles++;
    dev.dispose();
    // Let the event loop run: the mount helper reads the daemon's stderr from this process, and
    // a daemon whose stderr pipe fills up (64 KiB of log lines, ~90 cycles) blocks, which would
    // leave this synchronous loop waiting in a FUSE request forever.
    await new Promise((r) => setImmediate(r));
  }
  return c;
}

function line(name: string, c: Counts): string {
  return `kv-powerloss (${name}): seed=${c.seed} cycles=${c.cycles} ops=${c.ops} flushes=${c.flushes} keys checked=${c.keysChecked} ` +
    `keys lost=${c.keysLost} wrong values=${c.wrongValues} gc runs=${c.gcRuns} gc copied LBAs=${c.gcCopiedLbas} power cuts: at a device command=${c.cutsAtCommand} ` +
    `(in GC=${c.cutsInGc}) between operations=${c.cutsBetweenOps} torn writes=${c.tornWrites} (zone scans stopped by one=${c.tornZones}) oversize refused=${c.oversizeRefused}`;
}

const SEED = process.env.KV_SEED ? Number(process.env.KV_SEED) : Math.floor(Math.random() * 2 ** 31);

describe('examples/kv-store under power loss', () => {
  it('keeps every flushed key over a mounted zonefuse with the volatile cache on', async () => {
    const f = await mounted(GEO);
    expect(fs.readFileSync(path.join(f.mnt, 'nvme0n1.zones', 'info'), 'utf8')).toMatch(/^volatile_write_cache: on$/m);
    console.log(`kv-powerloss (mounted): seed=${SEED} (replay with KV_SEED=${SEED})`);
    const c = await powerLoop(() => openDevice(f.ns()), 60, SEED);
    console.log(line('mounted', c));
    expect(c.cycles).toBe(60);
    expect(c.keysLost).toBe(0);
    expect(c.wrongValues).toBe(0);
    expect(c.keysChecked).toBeGreaterThan(1000);
    expect(c.gcRuns).toBeGreaterThan(10);
    expect(c.cutsInGc).toBeGreaterThan(0);
    expect(c.tornWrites).toBeGreaterThan(0);
    expect(c.tornZones).toBeGreaterThan(0);
    // The store never touched the conventional zone.
    const dev = openDevice(f.ns());
    try {
      expect(dev.read(0, 256 * 4096).every((b) => b === 0)).toBe(true);
    } finally {
      dev.dispose();
    }
  }, 90_000);

  it('runs the same loop on a store opened in-process', async () => {
    const store = path.join(tmpDir(), 'store');
    expect(cli(['create', store, ...GEO]).status).toBe(0);
    const c = await powerLoop(() => openDevice(store, { inProcess: true }), 15, SEED + 1);
    console.log(line('in-process', c));
    expect(c.cycles).toBe(15);
    expect(c.keysLost).toBe(0);
    expect(c.wrongValues).toBe(0);
    expect(c.keysChecked).toBeGreaterThan(100);
  }, 60_000);
});

describe('README: Using zonefuse from code', () => {
  it('runs the snippet as a new user would, and prints what the README shows', async () => {
    const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const section = /^## Using zonefuse from code\n([\s\S]*?)(?=^## )/m.exec(readme)?.[1];
    expect(section, 'README section "## Using zonefuse from code"').toBeDefined();
    const code = /^```js\n([\s\S]*?)^```/m.exec(section!)?.[1];
    expect(code, 'a ```js block in the section').toBeDefined();
    // The output the README shows right after the snippet: the first ```text block following it.
    const shown = /^```text\n([\s\S]*?)^```/m.exec(section!.slice(section!.indexOf(code!) + code!.length))?.[1];
    expect(shown, 'a ```text block with the output after the snippet').toBeDefined();

    // A new user's project: the package installed under node_modules (here a link to this
    // checkout, as `npm install /path/to/zonefuse` or `npm link` makes), the snippet in a file.
    const dir = tmpDir('zonefuse-user-');
    fs.mkdirSync(path.join(dir, 'node_modules'));
    fs.symlinkSync(ROOT, path.join(dir, 'node_modules', 'zonefuse'), 'dir');
    fs.writeFileSync(path.join(dir, 'snippet.mjs'), code!);
    // The default device of `scripts/serve`, fresh.
    const f = await mounted([]);
    const r = spawnSync(process.execPath, ['snippet.mjs', f.ns()], { cwd: dir, encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(shown);
  });
});
