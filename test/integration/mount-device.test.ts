/**
 * The namespace file over a real FUSE mount, driven by real processes (dd, truncate, stat,
 * python3): device semantics of PRODUCT.md §4.
 */
import * as fs from 'node:fs';
import { describe, it, expect } from 'vitest';
import { mounted, run, sh, py } from '../helpers/mount.js';

const MiB = 1024 * 1024;
// 64 MiB, 4 MiB zones (16), 4 KiB LBAs, 2 conventional zones.
const GEO = ['--size', '64M', '--zone-size', '4M', '--conv-zones', '2', '--max-open', '3', '--max-active', '4'];

function report(f: { mnt: string }, name = 'nvme0n1'): string[] {
  return fs.readFileSync(`${f.mnt}/${name}.zones/report`, 'utf8').trimEnd().split('\n');
}

function wptr(line: string): number {
  return parseInt(/wptr 0x([0-9a-f]+)/.exec(line)![1]!, 16);
}

function cond(line: string): string {
  return /zcond:\s*\d+\((\w+)\)/.exec(line)![1]!;
}

describe('namespace file', () => {
  it('shows the layout of PRODUCT.md §3', async () => {
    const f = await mounted(GEO);
    expect(fs.readdirSync(f.mnt).sort()).toEqual(['ctl', 'errors', 'info', 'nvme0n1', 'nvme0n1.zones']);
    const zones = fs.readdirSync(`${f.mnt}/nvme0n1.zones`);
    for (const c of ['info', 'report', 'report.json', 'ctl', 'errors', 'faults']) expect(zones).toContain(c);
    expect(zones.filter((n) => /^\d+$/.test(n)).length).toBe(16);
    const st = run('stat', ['-c', '%s %o %B %b', f.ns()]);
    expect(st.stdout.trim()).toBe(`${64 * MiB} 4096 512 0`);
    expect(report(f)).toHaveLength(16);
    expect(fs.existsSync(`${f.mnt}/nvme0n1.zones/00`)).toBe(false);
    expect(fs.existsSync(`${f.mnt}/nvme0n1.zones/16`)).toBe(false);
  });

  it('accepts dd at the write pointer and refuses it elsewhere with EIO, changing nothing', async () => {
    const f = await mounted(GEO);
    const z2 = 2 * 4 * MiB;
    let r = run('dd', ['if=/dev/urandom', `of=${f.ns()}`, 'bs=64k', 'count=4', `seek=${z2 / 65536}`, 'oflag=direct', 'conv=notrunc']);
    expect(r.status).toBe(0);
    expect(wptr(report(f)[2]!)).toBe((256 * 1024) / 512);
    // 4 KiB past the write pointer.
    r = run('dd', ['if=/dev/zero', `of=${f.ns()}`, 'bs=4k', 'count=1', `seek=${(z2 + 256 * 1024) / 4096 + 1}`, 'oflag=direct', 'conv=notrunc']);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/Input\/output error/);
    expect(wptr(report(f)[2]!)).toBe((256 * 1024) / 512);
    const errors = fs.readFileSync(`${f.mnt}/nvme0n1.zones/errors`, 'utf8');
    expect(errors).toMatch(/write zone=2 lba=\d+ wp=\d+ status=0x1bc "Zone Invalid Write" errno=EIO/);
    // Below the write pointer (an overwrite) is refused too.
    r = run('dd', ['if=/dev/zero', `of=${f.ns()}`, 'bs=4k', 'count=1', `seek=${z2 / 4096}`, 'oflag=direct', 'conv=notrunc']);
    expect(r.status).not.toBe(0);
    // The data written is what reads back; above the write pointer reads return zeros.
    const back = run('bash', ['-c', `dd if=${f.ns()} bs=64k skip=${z2 / 65536} count=5 2>/dev/null | od -An -tx1 | tail -n 3`]);
    expect(back.stdout).toMatch(/00 00 00 00/);
  });

  it('works with dd without conv=notrunc (truncate is ignored, as on a block device)', async () => {
    const f = await mounted(GEO);
    const r = run('dd', ['if=/dev/urandom', `of=${f.ns()}`, 'bs=1M', 'count=8', 'oflag=direct']);
    expect(r.status).toBe(0);
    expect(fs.statSync(f.ns()).size).toBe(64 * MiB);
    // 8 MiB from offset 0: the two conventional zones.
    expect(run('truncate', ['-s', '0', f.ns()]).status).toBe(0);
    expect(fs.statSync(f.ns()).size).toBe(64 * MiB);
  });

  it('O_DIRECT writes must be whole LBAs (EINVAL); buffered writes of any size land completely', async () => {
    const f = await mounted(GEO);
    const z3 = 3 * 4 * MiB;
    const direct = py(`
import os, mmap, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_DIRECT)
buf = mmap.mmap(-1, 8192)
try:
    os.pwrite(fd, memoryview(buf)[:1000], ${z3})
except OSError as e:
    print(e.errno)
`, f.ns());
    expect(direct.stdout.trim()).toBe('22');
    // A 1 MiB write from an unaligned Python buffer reaches the daemon in odd pieces.
    const buffered = py(`
import os, sys, hashlib
data = os.urandom(1024 * 1024 + 100)
fd = os.open(sys.argv[1], os.O_WRONLY)
n = os.pwrite(fd, data, ${z3})
os.close(fd)
print(n, hashlib.sha256(data).hexdigest())
`, f.ns());
    expect(buffered.status).toBe(0);
    const [n, digest] = buffered.stdout.trim().split(' ');
    expect(Number(n)).toBe(MiB + 100);
    const readBack = py(`
import os, sys, hashlib
fd = os.open(sys.argv[1], os.O_RDONLY)
d = os.pread(fd, 1024 * 1024 + 4096, ${z3})
print(hashlib.sha256(d[:1024*1024+100]).hexdigest(), d[1024*1024+100:] == bytes(4096 - 100))
`, f.ns());
    expect(readBack.stdout.trim()).toBe(`${digest} True`);
    // The trailing partial LBA was zero-padded and committed at close.
    expect(wptr(report(f)[3]!)).toBe((MiB + 4096) / 512);
  });

  it('refuses writes crossing a zone boundary or the zone capacity', async () => {
    const f = await mounted(['--size', '32M', '--zone-size', '4M', '--zone-capacity', '3M', '--conv-zones', '1']);
    // Fill zone 1 up to 8 KiB short of its capacity, then try to write 16 KiB.
    let r = run('dd', ['if=/dev/zero', `of=${f.ns()}`, 'bs=4k', `count=${768 - 2}`, `seek=${1024}`, 'oflag=direct', 'conv=notrunc']);
    expect(r.status).toBe(0);
    r = run('dd', ['if=/dev/zero', `of=${f.ns()}`, 'bs=16k', 'count=1', `seek=${4 * MiB + 3 * MiB - 8192}`, 'oflag=direct,seek_bytes', 'conv=notrunc']);
    expect(r.status).not.toBe(0);
    expect(fs.readFileSync(`${f.mnt}/nvme0n1.zones/errors`, 'utf8')).toMatch(/status=0x1b8 "Zone Boundary Error"/);
    // Writing exactly up to the capacity fills the zone.
    r = run('dd', ['if=/dev/zero', `of=${f.ns()}`, 'bs=8k', 'count=1', `seek=${(4 * MiB + 3 * MiB - 8192) / 8192}`, 'oflag=direct', 'conv=notrunc']);
    expect(r.status).toBe(0);
    expect(cond(report(f)[1]!)).toBe('fu');
    // A write to a Full zone: Zone Is Full.
    r = run('dd', ['if=/dev/zero', `of=${f.ns()}`, 'bs=4k', 'count=1', `seek=${(4 * MiB) / 4096}`, 'oflag=direct', 'conv=notrunc']);
    expect(r.status).not.toBe(0);
    expect(fs.readFileSync(`${f.mnt}/nvme0n1.zones/errors`, 'utf8')).toMatch(/status=0x1b9 "Zone Is Full"/);
    // Past the end of the namespace: ENOSPC, as on a block device.
    r = run('dd', ['if=/dev/zero', `of=${f.ns()}`, 'bs=4k', 'count=1', `seek=${(32 * MiB) / 4096}`, 'oflag=direct', 'conv=notrunc']);
    expect(r.stderr).toMatch(/No space left on device/);
  });

  it('implicit open closes the oldest implicitly opened zone; the active limit gives EOVERFLOW', async () => {
    const f = await mounted(GEO); // max open 3, max active 4
    const write = (z: number): ReturnType<typeof run> =>
      run('dd', ['if=/dev/zero', `of=${f.ns()}`, 'bs=4k', 'count=1', `seek=${(z * 4 * MiB) / 4096 + wptr(report(f)[z]!) / 8}`, 'oflag=direct', 'conv=notrunc']);
    for (const z of [2, 3, 4]) expect(write(z).status).toBe(0);
    expect([2, 3, 4].map((z) => cond(report(f)[z]!))).toEqual(['oi', 'oi', 'oi']);
    expect(write(5).status).toBe(0);
    // Zone 2 was the oldest implicitly opened zone: it was closed to make room.
    expect([2, 3, 4, 5].map((z) => cond(report(f)[z]!))).toEqual(['cl', 'oi', 'oi', 'oi']);
    // Four zones are active now: a fifth needs an active resource.
    const r = write(6);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/Value too large for defined data type/); // EOVERFLOW
    expect(cond(report(f)[6]!)).toBe('em');
    // Explicitly opened zones are never closed implicitly: open 3 explicitly and fill the rest.
    const ctl = `${f.mnt}/nvme0n1.zones/ctl`;
    expect(sh(`echo "reset all" > ${ctl}`).status).toBe(0);
    for (const z of [2, 3, 4]) expect(sh(`echo open ${z} > ${ctl}`).status).toBe(0);
    const tooMany = write(5);
    expect(tooMany.stderr).toMatch(/Too many references/); // ETOOMANYREFS
    expect(sh(`echo open 5 > ${ctl}`).stderr).toMatch(/Too many references/);
    expect(fs.readFileSync(`${f.mnt}/nvme0n1.zones/errors`, 'utf8')).toMatch(/status=0x1be "Too Many Open Zones" errno=ETOOMANYREFS/);
  });

  it('fsync is a flush and truncate is accepted', async () => {
    const f = await mounted(GEO);
    const r = py(`
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY)
os.pwrite(fd, b'x' * 8192, 8 * 1024 * 1024)
os.fsync(fd); os.fdatasync(fd); os.ftruncate(fd, 0)
os.close(fd)
print('ok')
`, f.ns());
    expect(r.stdout.trim()).toBe('ok');
  });

  it('keeps sequential order under fio libaio iodepth=8 on a zone', async () => {
    const f = await mounted(['--size', '64M', '--zone-size', '16M', '--conv-zones', '1']);
    // fio lays out (unlinks) regular files smaller than its size, so it writes the zone's range
    // of the namespace file: the same zone, the same write-pointer check on every request.
    const r = run('fio', ['--name=seq', `--filename=${f.ns()}`, '--offset=16M', '--rw=write', '--bs=64k', '--size=8M',
      '--ioengine=libaio', '--iodepth=8', '--direct=1', '--output-format=terse']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.split(';')[4]).toBe('0'); // fio's error field
    expect(fs.statSync(f.zone(1)).size).toBe(8 * MiB);
    expect(fs.readFileSync(`${f.mnt}/nvme0n1.zones/errors`, 'utf8')).toBe('');
  });

  it('st_blocks shows allocated space and drops on reset; mtime moves on write', async () => {
    const f = await mounted(GEO);
    const before = fs.statSync(f.zone(4));
    await new Promise((r) => setTimeout(r, 20));
    expect(run('dd', ['if=/dev/urandom', `of=${f.zone(4)}`, 'bs=64k', 'count=16', 'oflag=direct,append', 'conv=notrunc']).status).toBe(0);
    const after = fs.statSync(f.zone(4));
    expect(after.size).toBe(MiB);
    expect(after.blocks).toBe(2048);
    expect(after.blksize).toBe(4096);
    expect(after.mtimeMs).toBeGreaterThan(before.mtimeMs);
    const nsBlocks = fs.statSync(f.ns()).blocks;
    expect(nsBlocks).toBeGreaterThanOrEqual(2048);
    expect(run('truncate', ['-s', '0', f.zone(4)]).status).toBe(0);
    expect(fs.statSync(f.zone(4)).blocks).toBe(0);
    expect(nsBlocks - fs.statSync(f.ns()).blocks).toBeGreaterThanOrEqual(2048);
    expect(sh(`du -k ${f.store}/nvme0n1.data | cut -f1`).stdout.trim()).toBe('0');
  });
});
