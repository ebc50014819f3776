/**
 * Zone files and control files over a real mount (PRODUCT.md §3, §5), and persistence across
 * SIGTERM, `zonefuse umount`, kill -9 and remount (§6).
 */
import * as fs from 'node:fs';
import { describe, it, expect } from 'vitest';
import { cli, mounted, run, sh, py, waitFor } from '../helpers/mount.js';

const MiB = 1024 * 1024;
const GEO = ['--size', '64M', '--zone-size', '4M', '--zone-capacity', '3M', '--conv-zones', '2', '--max-open', '4', '--max-active', '6'];
const CAP = 3 * MiB;

function errorsOf(f: { mnt: string }): string {
  return fs.readFileSync(`${f.mnt}/nvme0n1.zones/errors`, 'utf8');
}

function reportLine(f: { mnt: string }, z: number): string {
  return fs.readFileSync(`${f.mnt}/nvme0n1.zones/report`, 'utf8').split('\n')[z]!;
}

describe('zone files', () => {
  it('size is the write pointer; writes must start at the size (EINVAL); O_DIRECT needs whole LBAs', async () => {
    const f = await mounted(GEO);
    const z = f.zone(3);
    expect(fs.statSync(z).size).toBe(0);
    expect(run('dd', ['if=/dev/urandom', `of=${z}`, 'bs=4k', 'count=3', 'oflag=direct', 'conv=notrunc']).status).toBe(0);
    expect(fs.statSync(z).size).toBe(12288);
    // Not at the size: EINVAL.
    const r = run('dd', ['if=/dev/zero', `of=${z}`, 'bs=4k', 'count=1', 'seek=1', 'oflag=direct', 'conv=notrunc']);
    expect(r.stderr).toMatch(/Invalid argument/);
    const e = py(`
import os, mmap, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_DIRECT)
buf = mmap.mmap(-1, 4096)
for off, n in ((12288, 100), (100, 4096)):
    try:
        os.pwrite(fd, memoryview(buf)[:n], off)
        print('ok')
    except OSError as e:
        print(e.errno)
`, z);
    expect(e.stdout.trim().split('\n')).toEqual(['22', '22']);
    expect(errorsOf(f)).toMatch(/not LBA aligned/);
    // Reads at or past the size are EOF.
    expect(py(`import os,sys; fd=os.open(sys.argv[1],os.O_RDONLY); print(len(os.pread(fd, 8192, 8192)), len(os.pread(fd, 10, 12288)))`, z).stdout.trim()).toBe('4096 0');
  });

  it('echo >> zone appends one zero-padded LBA; O_APPEND offsets tell where data landed', async () => {
    const f = await mounted(GEO);
    expect(sh(`echo hi >> ${f.zone(4)}`).status).toBe(0);
    expect(fs.statSync(f.zone(4)).size).toBe(4096);
    const head = fs.readFileSync(f.zone(4));
    expect(head.subarray(0, 3).toString()).toBe('hi\n');
    expect(head.subarray(3).every((b) => b === 0)).toBe(true);
    const r = py(`
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND)
out = []
for i in range(3):
    n = os.write(fd, bytes([65 + i]) * 8192)
    out.append(os.lseek(fd, 0, os.SEEK_CUR) - n)
os.close(fd)
print(*out)
`, f.zone(4));
    expect(r.stdout.trim()).toBe('4096 12288 20480');
    expect(fs.readFileSync(f.zone(4)).subarray(12288, 12289).toString()).toBe('B');
  });

  it('an O_APPEND handle fails (EINVAL) rather than report a wrong offset after the write pointer moved elsewhere', async () => {
    const f = await mounted(GEO);
    const r = py(`
import os, sys, subprocess
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND)
os.write(fd, b'a' * 4096)
subprocess.run(['dd', 'if=/dev/zero', 'of=' + sys.argv[2], 'bs=4k', 'count=1', 'seek=' + sys.argv[3], 'oflag=direct', 'conv=notrunc'], check=True, capture_output=True)
try:
    os.write(fd, b'b' * 4096)
    print('wrote at', os.lseek(fd, 0, os.SEEK_CUR) - 4096)
except OSError as e:
    print('errno', e.errno)
os.fstat(fd)
os.write(fd, b'c' * 4096)
print('after fstat at', os.lseek(fd, 0, os.SEEK_CUR) - 4096)
`, f.zone(5), f.ns(), String((5 * 4 * MiB) / 4096 + 1));
    expect(r.stdout.trim().split('\n')).toEqual(['errno 22', 'after fstat at 8192']);
    expect(errorsOf(f)).toMatch(/write pointer moved/);
  });

  it('concurrent appenders never overlap and their offsets are exact', async () => {
    const f = await mounted(GEO);
    const script = `
import os, sys
tag = sys.argv[2].encode()
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND)
offs = []
for i in range(40):
    rec = (tag + b':%04d:' % i).ljust(4096, b'.')
    n = os.write(fd, rec)
    assert n == 4096
    offs.append(os.lseek(fd, 0, os.SEEK_CUR) - n)
os.close(fd)
print(' '.join(map(str, offs)))
`;
    const procs = ['p0', 'p1', 'p2', 'p3'].map((tag) =>
      import('node:child_process').then(({ spawn }) => new Promise<{ tag: string; out: string }>((resolve, reject) => {
        const c = spawn('python3', ['-c', script, f.zone(6), tag]);
        let out = '';
        c.stdout.on('data', (d) => (out += d));
        c.on('exit', (code) => (code === 0 ? resolve({ tag, out }) : reject(new Error(`appender ${tag} exited ${code}`))));
      })));
    const results = await Promise.all(procs);
    const data = fs.readFileSync(f.zone(6));
    expect(data.length).toBe(160 * 4096);
    const seen = new Set<number>();
    for (const { tag, out } of results) {
      const offs = out.trim().split(' ').map(Number);
      offs.forEach((off, i) => {
        expect(seen.has(off)).toBe(false);
        seen.add(off);
        expect(data.subarray(off, off + 8).toString()).toBe(`${tag}:${String(i).padStart(4, '0')}:`);
      });
    }
    expect(seen.size).toBe(160);
  });

  it('truncate: 0 resets, capacity finishes, beyond capacity EFBIG, other sizes EPERM; writes past capacity are cut short', async () => {
    const f = await mounted(GEO);
    const z = f.zone(7);
    expect(run('dd', ['if=/dev/zero', `of=${z}`, 'bs=4k', 'count=2', 'oflag=direct', 'conv=notrunc']).status).toBe(0);
    expect(run('truncate', ['-s', '4096', z]).stderr).toMatch(/Operation not permitted/);
    expect(run('truncate', ['-s', String(CAP + 4096), z]).stderr).toMatch(/File too large/);
    expect(run('truncate', ['-s', '0', z]).status).toBe(0);
    expect(fs.statSync(z).size).toBe(0);
    expect(reportLine(f, 7)).toMatch(/zcond: 1\(em\)/);
    expect(run('truncate', ['-s', String(CAP), z]).status).toBe(0);
    expect(fs.statSync(z).size).toBe(CAP);
    expect(reportLine(f, 7)).toMatch(/zcond:14\(fu\)/);
    // A full zone: a write at the size (= capacity) is EFBIG.
    expect(run('dd', ['if=/dev/zero', `of=${z}`, 'bs=4k', 'count=1', 'oflag=direct,append', 'conv=notrunc']).stderr).toMatch(/File too large/);
    // dd without notrunc opens with O_TRUNC: the zone is reset first.
    expect(run('dd', ['if=/dev/zero', `of=${z}`, 'bs=4k', 'count=1', 'oflag=direct']).status).toBe(0);
    expect(fs.statSync(z).size).toBe(4096);
    // Crossing the capacity: cut short.
    const short = py(`
import os, sys, mmap
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_DIRECT)
buf = mmap.mmap(-1, 1 << 20)
off = 4096
while True:
    n = os.pwrite(fd, buf, off)
    off += n
    if n < (1 << 20):
        print(n, off); break
`, z);
    expect(short.stdout.trim()).toBe(`${1048576 - 4096} ${CAP}`);
  });

  it('conventional zone files: random writes, truncate EPERM, O_APPEND EINVAL', async () => {
    const f = await mounted(GEO);
    const z = f.zone(1);
    expect(fs.statSync(z).size).toBe(4 * MiB);
    expect(run('dd', ['if=/dev/urandom', `of=${z}`, 'bs=4k', 'count=2', 'seek=100', 'conv=notrunc']).status).toBe(0);
    expect(run('dd', ['if=/dev/urandom', `of=${z}`, 'bs=4k', 'count=2', 'seek=10', 'conv=notrunc']).status).toBe(0);
    expect(fs.statSync(z).blocks).toBe(32);
    expect(run('truncate', ['-s', '0', z]).stderr).toMatch(/Operation not permitted/);
    expect(sh(`echo x >> ${z}`).stderr).toMatch(/Invalid argument/);
  });

  it('read-only and offline zones: modes, EPERM, and they survive remount', async () => {
    const f = await mounted(GEO);
    const ctl = `${f.mnt}/nvme0n1.zones/ctl`;
    expect(run('dd', ['if=/dev/urandom', `of=${f.zone(8)}`, 'bs=4k', 'count=4', 'oflag=direct', 'conv=notrunc']).status).toBe(0);
    expect(sh(`echo readonly 8 > ${ctl} && echo offline 9 > ${ctl}`).status).toBe(0);
    const mode = (z: number): string => run('stat', ['-c', '%a %s', f.zone(z)]).stdout.trim();
    expect(mode(8)).toBe('444 16384');
    expect(mode(9)).toBe('0 0');
    expect(sh(`echo x >> ${f.zone(8)}`).stderr).toMatch(/Operation not permitted/);
    expect(run('cat', [f.zone(8)]).status).toBe(0);
    expect(run('cat', [f.zone(9)]).stderr).toMatch(/Operation not permitted/);
    expect(run('truncate', ['-s', '0', f.zone(8)]).stderr).toMatch(/Operation not permitted/);
    // Through the namespace file the device statuses apply.
    expect(run('dd', ['if=/dev/zero', `of=${f.ns()}`, 'bs=4k', 'count=1', `seek=${(8 * 4 * MiB) / 4096 + 4}`, 'oflag=direct', 'conv=notrunc']).status).not.toBe(0);
    expect(errorsOf(f)).toMatch(/status=0x1ba "Zone Is Read Only"/);
    expect(run('dd', [`if=${f.ns()}`, 'of=/dev/null', 'bs=4k', 'count=1', `skip=${(9 * 4 * MiB) / 4096}`, 'iflag=direct']).status).not.toBe(0);
    expect(errorsOf(f)).toMatch(/status=0x1bb "Zone Is Offline"/);
    // The spec's Offline action on a Read Only zone.
    expect(sh(`echo offline 8 > ${ctl}`).status).toBe(0);
    await f.daemon.stop();
    await f.daemon.start();
    expect(mode(8)).toBe('0 0');
    expect(mode(9)).toBe('0 0');
    expect(reportLine(f, 9)).toMatch(/zcond:15\(of\)/);
  });

  it('ctl: commands with or without newline; malformed ones fail with EINVAL and are explained in errors', async () => {
    const f = await mounted(GEO);
    const ctl = `${f.mnt}/nvme0n1.zones/ctl`;
    expect(sh(`printf 'open 3' > ${ctl}`).status).toBe(0);
    expect(reportLine(f, 3)).toMatch(/zcond: 3\(oe\)/);
    expect(sh(`echo close 3 > ${ctl}`).status).toBe(0);
    expect(reportLine(f, 3)).toMatch(/zcond: 4\(cl\)/); // explicitly opened empty zone closed → Closed
    expect(sh(`echo finish 3 > ${ctl}`).status).toBe(0);
    expect(reportLine(f, 3)).toMatch(/wptr 0x002000 .*zcond:14\(fu\)/);
    for (const bad of ['frobnicate 3', 'open', 'open 99', 'open 1', 'open 3x', 'reset 3 4']) {
      const r = sh(`echo '${bad}' > ${ctl}`);
      expect(r.stderr, bad).toMatch(/Invalid argument/);
    }
    const errs = errorsOf(f);
    expect(errs).toMatch(/unknown command "frobnicate"/);
    expect(errs).toMatch(/zone 99 is out of range/);
    expect(errs).toMatch(/zone 1 is conventional/);
    // A refused transition: EIO with its status.
    expect(sh(`echo close 4 > ${ctl}`).stderr).toMatch(/Input\/output error/);
    expect(errorsOf(f)).toMatch(/status=0x1bf "Invalid Zone State Transition"/);
    expect(run('cat', [ctl]).status).not.toBe(0);
    // The CLI goes through ctl on a mounted store and shows the daemon's explanation.
    const c = cli(['zone', 'close', f.mnt, '4']);
    expect(c.status).toBe(1);
    expect(c.stderr).toMatch(/^zonefuse: nvme0n1: close 4: EIO \(.*Invalid Zone State Transition/);
    expect(cli(['zone', 'reset', f.mnt, 'all']).status).toBe(0);
    expect(reportLine(f, 3)).toMatch(/zcond: 1\(em\)/);
  });

  it('create, unlink, mkdir and rename in the mount are refused', async () => {
    const f = await mounted(GEO);
    expect(sh(`touch ${f.mnt}/nvme0n1.zones/new`).status).not.toBe(0);
    expect(sh(`rm -f ${f.zone(3)}`).stderr).toMatch(/Operation not permitted/);
    expect(sh(`mkdir ${f.mnt}/d`).stderr).toMatch(/Operation not permitted/);
    expect(sh(`mv ${f.zone(3)} ${f.zone(4)}`).status).not.toBe(0);
    expect(fs.existsSync(f.zone(3))).toBe(true);
  });
});

describe('persistence', () => {
  it('SIGTERM saves state; remount shows the same zones and data', async () => {
    const f = await mounted(GEO);
    expect(run('dd', ['if=/dev/urandom', `of=${f.zone(3)}`, 'bs=4k', 'count=5', 'oflag=direct', 'conv=notrunc']).status).toBe(0);
    expect(sh(`echo finish 4 > ${f.mnt}/nvme0n1.zones/ctl && echo open 5 > ${f.mnt}/nvme0n1.zones/ctl`).status).toBe(0);
    const data = fs.readFileSync(f.zone(3));
    await f.daemon.stop();
    await f.daemon.start();
    expect(fs.readFileSync(f.zone(3)).equals(data)).toBe(true);
    expect(reportLine(f, 3)).toMatch(/wptr 0x000028 .*zcond: 4\(cl\)/); // was open: Closed after power-up
    expect(reportLine(f, 4)).toMatch(/zcond:14\(fu\)/);
    expect(reportLine(f, 5)).toMatch(/zcond: 1\(em\)/); // explicitly opened, nothing written: Empty
  });

  it('kill -9 loses no acknowledged write; the unclean shutdown is reported; zonefuse umount stops a daemon', async () => {
    const f = await mounted(GEO);
    expect(run('dd', ['if=/dev/urandom', `of=${f.zone(3)}`, 'bs=4k', 'count=7', 'oflag=direct', 'conv=notrunc']).status).toBe(0);
    const data = fs.readFileSync(f.zone(3));
    await f.daemon.kill9();
    // auto_unmount removes the dead mount; a stale one would be cleaned by the next mount.
    await f.daemon.start();
    expect(f.daemon.stderr).toMatch(/unclean shutdown detected/);
    const after = fs.readFileSync(f.zone(3));
    expect(after.length).toBe(data.length);
    expect(after.equals(data)).toBe(true);
    expect(cli(['umount', f.mnt]).status).toBe(0);
    await waitFor(() => f.daemon.exitCode !== null, 'daemon exit after umount');
    expect(f.daemon.exitCode).toBe(0);
    expect(f.daemon.stderr).toMatch(/zone state saved/);
  });

  it('a stale mount (daemon killed, mount left behind) is cleaned up by the next mount, with a message', async () => {
    const f = await mounted(GEO);
    await f.daemon.stop();
    await f.daemon.start(['--no-auto-unmount']);
    expect(run('dd', ['if=/dev/urandom', `of=${f.zone(3)}`, 'bs=4k', 'count=2', 'oflag=direct', 'conv=notrunc']).status).toBe(0);
    await f.daemon.kill9();
    // The dead mount stays: every access fails with ENOTCONN.
    expect(run('stat', [f.mnt]).stderr).toMatch(/Transport endpoint is not connected/);
    await f.daemon.start();
    expect(f.daemon.stderr).toMatch(/cleaning up a stale mount/);
    expect(fs.statSync(f.zone(3)).size).toBe(8192);
    // zonefuse umount removes a stale mount whose daemon is gone.
    await f.daemon.stop();
    await f.daemon.start(['--no-auto-unmount']);
    await f.daemon.kill9();
    const u = cli(['umount', f.mnt]);
    expect(u.stdout).toMatch(/removed stale mount/);
    expect(run('stat', [f.mnt]).status).toBe(0);
  });
});
