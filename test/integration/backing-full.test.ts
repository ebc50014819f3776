/**
 * The file system under the store fails (PRODUCT.md §12): a small tmpfs that fills up, under the
 * data file, the sidecar (a sparse copy of the store, whose unused areas are holes) and the undo
 * log (volatile cache on). The caller gets ENOSPC, `errors` and the log one line each naming the
 * file, write pointers keep exactly what was stored, the daemon keeps serving, and writes succeed
 * once there is space again. Real mounts, real dd/python; needs root for the tmpfs.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, py, sh, waitFor } from '../helpers/mount.js';
import { pattern } from '../helpers/prng.mjs';
import { Tmpfs, isRoot, withTmpfs } from '../helpers/tmpfs.js';

const LBA = 4096;
const MiB = 1024 * 1024;

/** Lines the daemon logged at error level (pino level 50), parsed. */
function errorLogLines(log: string): Array<Record<string, unknown>> {
  return log.split('\n').filter((l) => l.includes('"level":50')).map((l) => JSON.parse(l) as Record<string, unknown>);
}

function errorsFile(mnt: string, ns = 'nvme0n1'): string[] {
  return fs.readFileSync(path.join(mnt, `${ns}.zones`, 'errors'), 'utf8').split('\n').filter(Boolean);
}

/** The relative write pointer in bytes and the state of zone z, from the `report` file. */
function zoneOf(mnt: string, z: number): { wp: number; cond: string } {
  const line = fs.readFileSync(path.join(mnt, 'nvme0n1.zones', 'report'), 'utf8').split('\n').filter((l) => l.includes('start:'))[z]!;
  const m = /wptr 0x([0-9a-f]+) .*zcond: *\d+\((\w+)\)/.exec(line)!;
  return { wp: parseInt(m[1]!, 16) * 512, cond: m[2]! };
}

/** dd's "N bytes ... copied". */
function ddBytes(stderr: string): number {
  return Number(/(\d+) bytes/.exec(stderr)![1]);
}

async function setup(t: Tmpfs, createArgs: string[]): Promise<{ store: string; mnt: string; daemon: ReturnType<Tmpfs['daemon']> }> {
  const store = path.join(t.fs, 'store');
  const mnt = path.join(t.dir, 'mnt');
  const r = cli(['create', store, '--size', '128M', '--zone-size', '16M', '--conv-zones', '1', ...createArgs]);
  expect(r.status, r.stderr).toBe(0);
  const daemon = t.daemon(store, mnt);
  await daemon.start();
  return { store, mnt, daemon };
}

function expectCleanErrorLog(log: string, file: string, count: number): void {
  const lines = errorLogLines(log);
  expect(lines.length).toBe(count);
  for (const l of lines) {
    expect(l.file).toBe(file);
    expect(l.errno).toBe('ENOSPC');
    expect(JSON.stringify(l)).not.toMatch(/stack|internal error/);
  }
  expect(log).not.toMatch(/internal error/);
}

describe.skipIf(!isRoot)('a backing file system that fills up', () => {
  it('data file: O_DIRECT dd into a zone gets a short write, then ENOSPC; the write pointer is what was stored; space back, writes succeed', async () => {
    await withTmpfs('8M', async (t) => {
      const { store, mnt, daemon } = await setup(t, []);
      const data = path.join(store, 'nvme0n1.data');
      const src = path.join(t.dir, 'src');
      const want = pattern(14, 3072, LBA); // 12 MiB: more than the tmpfs holds
      fs.writeFileSync(src, want);
      const zone1 = path.join(mnt, 'nvme0n1.zones', '1');

      const dd = sh(`dd if=${src} of=${zone1} bs=256K oflag=direct 2>&1`);
      expect(dd.status).not.toBe(0);
      expect(dd.stdout).toMatch(/No space left on device/);
      const stored = ddBytes(dd.stdout);
      expect(stored).toBeGreaterThan(2 * MiB);
      expect(stored).toBeLessThan(8 * MiB);
      expect(stored % LBA).toBe(0);
      // What dd was told was written is exactly the zone's content and write pointer.
      expect(fs.statSync(zone1).size).toBe(stored);
      expect(zoneOf(mnt, 1)).toEqual({ wp: stored, cond: 'oi' });
      expect(fs.readFileSync(zone1).equals(want.subarray(0, stored))).toBe(true);

      const errs = errorsFile(mnt);
      expect(errs.length).toBeGreaterThanOrEqual(1);
      expect(errs.length).toBeLessThanOrEqual(2);
      for (const e of errs) expect(e).toContain(`${data}: write failed: ENOSPC (no space left on device)`);
      expect(errs.at(-1)).toMatch(/errno=ENOSPC$/);
      expectCleanErrorLog(daemon.stderr, data, errs.length);

      // A buffered writer of the namespace file gets ENOSPC too (python reports the errno).
      const ns = path.join(mnt, 'nvme0n1');
      const p = py(`
import os, errno
fd = os.open(${JSON.stringify(ns)}, os.O_WRONLY)
pos = 2 * 16 * 1024 * 1024
done = 0
try:
    while True:
        done += os.pwrite(fd, b"x" * 65536, pos + done)
except OSError as e:
    print(errno.errorcode[e.errno], done)
`);
      expect(p.stdout.trim()).toMatch(/^ENOSPC \d+$/);
      const buffered = Number(p.stdout.trim().split(' ')[1]);
      expect(zoneOf(mnt, 2).wp).toBe(buffered - (buffered % LBA));

      // Space comes back with a reset, by the time it returns; then writes succeed.
      const before = t.free();
      sh(`truncate -s 0 ${zone1}`);
      expect(t.free()).toBeGreaterThanOrEqual(before + stored - MiB);
      const more = sh(`dd if=${src} of=${path.join(mnt, 'nvme0n1.zones', '3')} bs=256K count=8 oflag=direct 2>&1`);
      expect(more.status, more.stdout).toBe(0);
      expect(zoneOf(mnt, 3).wp).toBe(2 * MiB);

      // After kill -9 and a remount, every write pointer is what the callers were told.
      const wp2 = zoneOf(mnt, 2).wp;
      await daemon.kill9();
      await waitFor(() => !fs.readFileSync('/proc/mounts', 'utf8').includes(` ${mnt} `), 'the dead mount to go');
      await daemon.start();
      expect(zoneOf(mnt, 1).wp).toBe(0);
      expect(zoneOf(mnt, 2).wp).toBe(wp2);
      expect(zoneOf(mnt, 3).wp).toBe(2 * MiB);
      expect(fs.readFileSync(path.join(mnt, 'nvme0n1.zones', '3')).equals(want.subarray(0, 2 * MiB))).toBe(true);
    });
  });

  it('sidecar: a sparse copy of the store on a full file system refuses set-ext with ENOSPC, changes nothing, and succeeds once space is back', async () => {
    await withTmpfs('8M', async (t) => {
      const orig = path.join(t.dir, 'orig');
      expect(cli(['create', orig, '--size', '128M', '--zone-size', '16M', '--conv-zones', '1', '--descr-ext-size', '64']).status).toBe(0);
      const store = path.join(t.fs, 'store');
      // cp --sparse=always turns the zero-filled descriptor extension area into a hole.
      expect(sh(`cp -r --sparse=always ${orig} ${store}`).status).toBe(0);
      const meta = path.join(store, 'nvme0n1.zmeta');
      expect(fs.statSync(meta).blocks * 512).toBeLessThan(fs.statSync(meta).size);
      const mnt = path.join(t.dir, 'mnt');
      const daemon = t.daemon(store, mnt);
      await daemon.start();
      const ctl = path.join(mnt, 'nvme0n1.zones', 'ctl');
      const filler = t.fill();

      const r = sh(`echo "set-ext 2 68656c6c6f" > ${ctl}`);
      expect(r.status).not.toBe(0);
      expect(r.stderr).toMatch(/No space left on device/);
      expect(zoneOf(mnt, 2).cond).toBe('em');
      const errs = errorsFile(mnt);
      expect(errs.length).toBe(1);
      expect(errs[0]).toContain(`${meta}: write failed: ENOSPC`);
      expectCleanErrorLog(daemon.stderr, meta, 1);
      // Still serving: zone management that needs no new space works.
      expect(sh(`echo "open 3" > ${ctl}`).status).toBe(0);
      expect(zoneOf(mnt, 3).cond).toBe('oe');

      fs.rmSync(filler);
      expect(sh(`echo "set-ext 2 68656c6c6f" > ${ctl}`).status).toBe(0);
      expect(zoneOf(mnt, 2).cond).toBe('cl');
      await daemon.stop();
      const info = cli(['report', store]);
      expect(info.status, info.stderr).toBe(0);
      const check = cli(['check', store]);
      expect(check.status, check.stdout + check.stderr).toBe(0);
    });
  });

  it('volatile cache on: the undo log cannot grow, so a conventional overwrite is refused and nothing changes; after space returns a power cycle still undoes', async () => {
    await withTmpfs('8M', async (t) => {
      const { store, mnt, daemon } = await setup(t, ['--volatile-cache']);
      const ns = path.join(mnt, 'nvme0n1');
      const a = path.join(t.dir, 'a');
      const b = path.join(t.dir, 'b');
      fs.writeFileSync(a, pattern(1, 256, LBA)); // 1 MiB
      fs.writeFileSync(b, pattern(2, 256, LBA));
      expect(sh(`dd if=${a} of=${ns} bs=1M oflag=direct conv=notrunc,fsync 2>&1`).status).toBe(0);
      // Sequential data written and flushed, then more not flushed.
      expect(sh(`dd if=${a} of=${ns} bs=1M seek=16 oflag=direct conv=notrunc,fsync 2>&1`).status).toBe(0);
      expect(sh(`dd if=${b} of=${ns} bs=1M seek=17 oflag=direct conv=notrunc 2>&1`).status).toBe(0);
      const filler = t.fill(64 * 1024); // room for part of an undo entry only

      const r = sh(`dd if=${b} of=${ns} bs=1M oflag=direct conv=notrunc 2>&1`);
      expect(r.status).not.toBe(0);
      expect(r.stdout).toMatch(/No space left on device/);
      const undo = path.join(store, 'nvme0n1.undo');
      const errs = errorsFile(mnt);
      expect(errs.length).toBe(1);
      expect(errs[0]).toContain(`${undo}: write failed: ENOSPC`);
      expectCleanErrorLog(daemon.stderr, undo, 1);
      expect(fs.readFileSync(ns).subarray(0, MiB).equals(fs.readFileSync(a))).toBe(true);
      expect(fs.statSync(undo).size).toBe(0); // the torn entry was cut off

      fs.rmSync(filler);
      expect(sh(`dd if=${b} of=${ns} bs=1M oflag=direct conv=notrunc 2>&1`).status).toBe(0);
      expect(fs.readFileSync(ns).subarray(0, MiB).equals(fs.readFileSync(b))).toBe(true);
      const pc = cli(['power-cycle', mnt]);
      expect(pc.status, pc.stderr).toBe(0);
      const after = fs.readFileSync(ns);
      expect(after.subarray(0, MiB).equals(fs.readFileSync(a))).toBe(true);
      expect(zoneOf(mnt, 1).wp).toBe(MiB);
      expect(after.subarray(16 * MiB, 17 * MiB).equals(fs.readFileSync(a))).toBe(true);
      expect(after.subarray(17 * MiB, 18 * MiB).equals(Buffer.alloc(MiB))).toBe(true);
    });
  });
});
