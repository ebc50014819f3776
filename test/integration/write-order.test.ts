/**
 * Write order under concurrency (PRODUCT.md §9) over a real mount: writes of one sequential zone
 * take effect in write-pointer order even when they reach the daemon out of order; a really
 * misplaced write still fails with Zone Invalid Write, promptly; writers on different zones of
 * one namespace file proceed side by side.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it, expect } from 'vitest';
import { ROOT, TEST_FUSE, mounted, run, py } from '../helpers/mount.js';

const MiB = 1024 * 1024;
const ZONE = 16 * MiB;
// 128 MiB, 16 MiB zones (8), 4 KiB LBAs, no conventional zones, no open limits.
const GEO = ['--size', '128M', '--zone-size', '16M', '--conv-zones', '0', '--max-open', '0', '--max-active', '0'];
const AIO = path.join(ROOT, 'test', 'fixtures', 'aio-reversed.py');

/** Where zone z's write pointer is, in bytes from the zone's start (its zone file's size). */
function written(f: { zone(z: number): string }, z: number): number {
  return fs.statSync(f.zone(z)).size;
}

function fio(args: string[]): { error: string; stderr: string } {
  // No verify state files: fio would leave local-*-verify.state in the working directory.
  const r = run('fio', ['--output-format=terse', '--direct=1', '--verify_state_save=0', ...args]);
  expect(r.status, r.stderr).toBe(0);
  return { error: r.stdout.split(';')[4]!, stderr: r.stderr };
}

describe('write order', () => {
  it('fio --verify=crc32c at iodepth 8 inside one zone completes (libaio and io_uring)', async () => {
    const f = await mounted(GEO);
    for (const [z, engine, bs] of [[1, 'libaio', '4k'], [2, 'io_uring', '4k'], [3, 'libaio', '256k']] as const) {
      const r = fio([`--name=v${z}`, `--filename=${f.ns()}`, `--offset=${z * ZONE}`, `--size=${ZONE}`, '--rw=write',
        `--bs=${bs}`, `--ioengine=${engine}`, '--iodepth=8', '--verify=crc32c', '--do_verify=1']);
      expect(r.error, `${engine} ${bs}: ${r.stderr}`).toBe('0');
      expect(written(f, z)).toBe(ZONE); // the zone is full: every write landed
    }
    expect(fs.readFileSync(`${f.mnt}/nvme0n1.zones/errors`, 'utf8')).toBe('');
  });

  it('4 writers on 4 zones of the namespace file, each at its write pointer', async () => {
    const f = await mounted(GEO);
    const args = ['--ioengine=psync', '--rw=write', '--bs=64k', `--size=${ZONE}`, '--verify=crc32c', '--do_verify=1'];
    for (let z = 4; z < 8; z++) args.push(`--name=w${z}`, `--filename=${f.ns()}`, `--offset=${z * ZONE}`);
    expect(fio(args).error).toBe('0');
    for (let z = 4; z < 8; z++) expect(written(f, z)).toBe(ZONE);
  });

  it('a really misplaced write fails promptly with Zone Invalid Write and changes nothing', async () => {
    const f = await mounted(GEO);
    const t0 = Date.now();
    const r = py(`
import os, mmap
fd = os.open(${JSON.stringify(f.ns())}, os.O_WRONLY | os.O_DIRECT)
m = mmap.mmap(-1, 4096)
try:
    os.pwrite(fd, m, ${ZONE + 8192})
    print('written')
except OSError as e:
    print(e.errno)`);
    const ms = Date.now() - t0;
    expect(r.stdout.trim()).toBe('5'); // EIO
    expect(ms).toBeLessThan(5_000); // held for at most a few tens of ms, never indefinitely
    expect(written(f, 1)).toBe(0);
    expect(fs.readFileSync(`${f.mnt}/nvme0n1.zones/errors`, 'utf8')).toMatch(/Zone Invalid Write/);
  });

  // With asynchronous direct I/O (libfuse3) the kernel forwards one io_submit's writes in array
  // order without waiting for each: the daemon sees the last LBA first. fuse-native's libfuse 2
  // has no async DIO (each write of a file waits for the previous one), so this is libfuse3's.
  it.runIf(TEST_FUSE === 'libfuse3')('writes that arrive in reverse order are held until the gap fills, then all land', async () => {
    const f = await mounted(GEO);
    const base = 2 * ZONE;
    const offsets = [3, 2, 1, 0].map((i) => String(base + i * 4096));
    const r = run('python3', [AIO, f.ns(), '4096', ...offsets]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe(offsets.map((o) => `${o}:4096`).join(' '));
    expect(written(f, 2)).toBe(4 * 4096);
    // Each block holds what its own write carried (A for the first submitted, at the highest LBA).
    const data = Buffer.alloc(4 * 4096);
    const fd = fs.openSync(f.ns(), 'r');
    fs.readSync(fd, data, 0, data.length, base);
    fs.closeSync(fd);
    expect([0, 1, 2, 3].map((i) => String.fromCharCode(data[i * 4096]!))).toEqual(['D', 'C', 'B', 'A']);
    expect(fs.readFileSync(`${f.mnt}/nvme0n1.zones/errors`, 'utf8')).toBe('');

    // A gap nothing fills: the write ahead fails once its hold expires; the one at the pointer lands.
    const gap = run('python3', [AIO, f.ns(), '4096', String(base + 8 * 4096), String(base + 4 * 4096)]);
    expect(gap.stdout.trim()).toBe(`${base + 8 * 4096}:-5 ${base + 4 * 4096}:4096`);
    expect(written(f, 2)).toBe(5 * 4096);
  });
});
