/**
 * Power-loss emulation and fault injection over a real mount (issue: power-loss emulation and
 * fault injection for testing FTL recovery), driven by dd, python3, the shell and the CLI.
 */
import * as fs from 'node:fs';
import { describe, it, expect } from 'vitest';
import { cli, mounted, run, sh, py } from '../helpers/mount.js';

const MiB = 1024 * 1024;
const GEO = ['--size', '64M', '--zone-size', '4M', '--conv-zones', '1', '--max-open', '0', '--max-active', '0'];
const ZL = (4 * MiB) / 4096; // LBAs per zone

function reportLine(f: { mnt: string }, z: number): string {
  return fs.readFileSync(`${f.mnt}/nvme0n1.zones/report`, 'utf8').split('\n')[z]!;
}

function errorsOf(f: { mnt: string }): string {
  return fs.readFileSync(`${f.mnt}/nvme0n1.zones/errors`, 'utf8');
}

describe('volatile write cache and power cycles', () => {
  it('keeps flushed data, loses the rest, and open files fail with EIO until reopened', async () => {
    const f = await mounted([...GEO, '--volatile-cache']);
    expect(fs.readFileSync(`${f.mnt}/nvme0n1.zones/info`, 'utf8')).toMatch(/^volatile_write_cache: on$/m);
    const r = py(`
import os, sys, subprocess
z, ctl = sys.argv[1], sys.argv[2]
fd = os.open(z, os.O_WRONLY | os.O_APPEND)
os.write(fd, b'A' * 8192)
os.fsync(fd)                      # durable
os.write(fd, b'B' * 8192)         # acknowledged, not flushed
keep = os.open(z, os.O_RDONLY)
with open(ctl, 'w') as c:
    c.write('power-cycle')
for name, call in (('write', lambda: os.write(fd, b'C' * 4096)), ('read', lambda: os.pread(keep, 4096, 0)), ('fsync', lambda: os.fsync(fd))):
    try:
        call(); print(name, 'ok')
    except OSError as e:
        print(name, e.errno)
fresh = os.open(z, os.O_RDONLY)
data = os.pread(fresh, 65536, 0)
print(len(data), data[:8192] == b'A' * 8192)
`, f.zone(3), `${f.mnt}/nvme0n1.zones/ctl`);
    expect(r.stdout.trim().split('\n')).toEqual(['write 5', 'read 5', 'fsync 5', '8192 True']);
    expect(reportLine(f, 3)).toMatch(/wptr 0x000010 .*zcond: 4\(cl\)/);
    expect(errorsOf(f)).toMatch(/opened before the last power cycle/);
  });

  it('zonefuse power-cycle: everything after the last fsync is gone, reads as zeros; --shutdown keeps all', async () => {
    const f = await mounted([...GEO, '--volatile-cache']);
    expect(run('dd', ['if=/dev/urandom', `of=${f.zone(2)}`, 'bs=4k', 'count=4', 'oflag=direct,append', 'conv=notrunc,fsync']).status).toBe(0);
    expect(run('dd', ['if=/dev/urandom', `of=${f.zone(2)}`, 'bs=4k', 'count=4', 'oflag=direct,append', 'conv=notrunc']).status).toBe(0);
    expect(run('dd', ['if=/dev/urandom', `of=${f.zone(4)}`, 'bs=4k', 'count=2', 'oflag=direct,append', 'conv=notrunc']).status).toBe(0);
    const flushed = fs.readFileSync(f.zone(2)).subarray(0, 16384);
    const p = cli(['power-cycle', f.mnt]);
    expect(p.status, p.stderr).toBe(0);
    expect(p.stdout).toBe('nvme0n1: power lost and restored\n');
    expect(fs.statSync(f.zone(2)).size).toBe(16384);
    expect(fs.readFileSync(f.zone(2)).equals(flushed)).toBe(true);
    expect(fs.statSync(f.zone(4)).size).toBe(0);
    expect(reportLine(f, 4)).toMatch(/zcond: 1\(em\)/);
    // Through the namespace file the lost LBAs read as zeros.
    const z = run('bash', ['-c', `dd if=${f.ns()} bs=4k skip=${2 * ZL + 4} count=4 iflag=direct 2>/dev/null | tr -d '\\0' | wc -c`]);
    expect(z.stdout.trim()).toBe('0');
    // A clean shutdown loses nothing.
    expect(run('dd', ['if=/dev/urandom', `of=${f.zone(5)}`, 'bs=4k', 'count=3', 'oflag=direct,append', 'conv=notrunc']).status).toBe(0);
    expect(cli(['power-cycle', f.mnt, '--shutdown']).stdout).toBe('nvme0n1: clean shutdown and power-up\n');
    expect(fs.statSync(f.zone(5)).size).toBe(12288);
    expect(reportLine(f, 5)).toMatch(/zcond: 4\(cl\)/);
  });

  it('a daemon killed with the cache on loses what was not flushed (power loss); with it off, nothing', async () => {
    const f = await mounted([...GEO, '--volatile-cache']);
    expect(run('dd', ['if=/dev/urandom', `of=${f.zone(2)}`, 'bs=4k', 'count=2', 'oflag=direct,append', 'conv=notrunc,fsync']).status).toBe(0);
    expect(run('dd', ['if=/dev/urandom', `of=${f.zone(2)}`, 'bs=4k', 'count=2', 'oflag=direct,append', 'conv=notrunc']).status).toBe(0);
    await f.daemon.kill9();
    await f.daemon.start();
    expect(f.daemon.stderr).toMatch(/treated as a power loss/);
    expect(fs.statSync(f.zone(2)).size).toBe(8192);
    expect(cli(['cache', f.mnt, 'off']).status).toBe(0);
    expect(run('dd', ['if=/dev/urandom', `of=${f.zone(2)}`, 'bs=4k', 'count=2', 'oflag=direct,append', 'conv=notrunc']).status).toBe(0);
    await f.daemon.kill9();
    await f.daemon.start();
    expect(fs.statSync(f.zone(2)).size).toBe(16384);
  });
});

describe('fault injection', () => {
  it('bad LBA ranges fail exactly where set (write, read, once, partial) and survive remount', async () => {
    const f = await mounted(GEO);
    const ctl = `${f.mnt}/nvme0n1.zones/ctl`;
    const z3 = 3 * ZL;
    expect(sh(`echo "fault write ${z3 + 4} 2" > ${ctl}`).status).toBe(0);
    expect(run('dd', ['if=/dev/zero', `of=${f.zone(3)}`, 'bs=4k', 'count=4', 'oflag=direct,append', 'conv=notrunc']).status).toBe(0);
    const w = run('dd', ['if=/dev/zero', `of=${f.zone(3)}`, 'bs=4k', 'count=1', 'oflag=direct,append', 'conv=notrunc']);
    expect(w.stderr).toMatch(/Input\/output error/);
    expect(errorsOf(f)).toMatch(/status=0x280 "Write Fault" errno=EIO: injected write error in LBAs \d+\.\.\d+/);
    expect(fs.statSync(f.zone(3)).size).toBe(16384);
    // Partial: a torn write lands the LBAs before the bad one and moves the write pointer.
    const z4 = 4 * ZL;
    expect(cli(['fault', 'add', f.mnt, 'write', String(z4 + 3), '1', '--partial']).status).toBe(0);
    const t = run('dd', ['if=/dev/urandom', `of=${f.zone(4)}`, 'bs=32k', 'count=1', 'oflag=direct,append', 'conv=notrunc']);
    expect(t.status).not.toBe(0);
    expect(fs.statSync(f.zone(4)).size).toBe(3 * 4096);
    expect(errorsOf(f)).toMatch(/torn write, 3 of 8 LBAs written/);
    // Read faults, once: fail one time, then heal.
    expect(cli(['fault', 'add', f.mnt, 'read', String(z3 + 1), '1', '--once']).status).toBe(0);
    const rd = (): number | null => run('dd', [`if=${f.zone(3)}`, 'of=/dev/null', 'bs=4k', 'count=4', 'iflag=direct']).status;
    expect(rd()).not.toBe(0);
    expect(errorsOf(f)).toMatch(/status=0x281 "Unrecovered Read Error"/);
    expect(rd()).toBe(0);
    const list = cli(['fault', 'list', f.mnt]).stdout;
    expect(list).toBe(`fault write ${z3 + 4} 2\nfault write ${z4 + 3} 1 partial\n`);
    await f.daemon.stop();
    await f.daemon.start();
    expect(fs.readFileSync(`${f.mnt}/nvme0n1.zones/faults`, 'utf8')).toBe(list);
    expect(cli(['fault', 'list', f.store]).stdout).toBe(list); // the store itself, read-only
    expect(cli(['fault', 'clear', f.mnt]).status).toBe(0);
    expect(fs.readFileSync(`${f.mnt}/nvme0n1.zones/faults`, 'utf8')).toBe('');
    expect(run('dd', ['if=/dev/zero', `of=${f.zone(3)}`, 'bs=4k', 'count=4', 'oflag=direct,append', 'conv=notrunc']).status).toBe(0);
  });

  it('the seeded random mode reproduces the same failures from the same seed', async () => {
    const f = await mounted(GEO);
    const attempt = (): string => {
      expect(cli(['zone', 'reset', f.mnt, 'all']).status).toBe(0);
      expect(cli(['fault', 'random', f.mnt, '4242', '5']).status).toBe(0);
      const r = py(`
import os, sys, mmap
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_DIRECT)
buf = mmap.mmap(-1, 4096)
out = []
for i in range(80):
    try:
        os.pwrite(fd, buf, ${2 * ZL * 4096} + len([x for x in out if x == 'ok']) * 4096)
        out.append('ok')
    except OSError as e:
        out.append(str(e.errno))
print(' '.join(str(i) for i, x in enumerate(out) if x != 'ok'))
`, f.ns());
      return r.stdout.trim();
    };
    const a = attempt();
    const b = attempt();
    expect(a.split(' ').length).toBeGreaterThan(5);
    expect(b).toBe(a);
    expect(fs.readFileSync(`${f.mnt}/nvme0n1.zones/info`, 'utf8')).toMatch(/^random_faults: seed 4242, 1 in 5 writes, 1 in 0 reads$/m);
  });

  it('reset/finish recommendations show in report; read-only/offline zones are listed and cleared', async () => {
    const f = await mounted(GEO);
    expect(cli(['fault', 'recommend', f.mnt, 'reset', '6']).status).toBe(0);
    expect(cli(['fault', 'recommend', f.mnt, 'finish', '7']).status).toBe(0);
    expect(cli(['zone', 'readonly', f.mnt, '8']).status).toBe(0);
    expect(reportLine(f, 6)).toMatch(/ reset:1 /);
    const nvme = cli(['report', f.mnt, '--format', 'nvme', '--from', String(7 * ZL), '--count', '1']).stdout;
    expect(nvme).toMatch(/Attrs: 0x2 /);
    expect(cli(['fault', 'list', f.mnt]).stdout).toBe('recommend reset 6\nrecommend finish 7\nreadonly 8\n');
    expect(cli(['fault', 'clear', f.mnt]).status).toBe(0);
    expect(reportLine(f, 6)).toMatch(/ reset:0 /);
    expect(reportLine(f, 8)).toMatch(/zcond: 1\(em\)/);
    // Bad input to ctl: EINVAL with an explanation.
    for (const bad of ['fault write 1', 'fault bogus 1 1', `fault read ${16 * ZL} 1`, 'fault random x 1', 'recommend reset 99', 'cache maybe']) {
      expect(sh(`echo '${bad}' > ${f.mnt}/nvme0n1.zones/ctl`).stderr, bad).toMatch(/Invalid argument/);
    }
    expect(cli(['power-cycle', f.store]).status).toBe(0); // the store of a mount: goes through it
    const off = cli(['cache', f.mnt, 'maybe']);
    expect(off.status).toBe(1);
  });
});
