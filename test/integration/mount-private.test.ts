/**
 * A mount is private to the user who mounted it unless `mount --allow-other` (PRODUCT.md §12);
 * with it, the file modes the vfs reports decide. Store files keep data from other users. The
 * other user is a throw-away unprivileged account made by this test and removed after it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Fixture, mounted } from '../helpers/mount.js';

const USER = `zfprobe${process.pid}`;
let uid = -1;
let gid = -1;

beforeAll(() => {
  const r = spawnSync('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', USER], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`useradd ${USER}: ${r.stderr}`);
  const id = (flag: string): number => Number(spawnSync('id', [flag, USER], { encoding: 'utf8' }).stdout.trim());
  uid = id('-u');
  gid = id('-g');
});

afterAll(() => {
  spawnSync('userdel', [USER]);
});

/** Try each access as the other user: 0, or the errno name it got. */
function asOther(probes: [op: 'stat' | 'list' | 'read' | 'write', file: string][]): string[] {
  const code = String.raw`
import errno, json, os, sys
out = []
for op, f in json.loads(sys.argv[1]):
    try:
        if op == "stat": os.stat(f)
        elif op == "list": os.listdir(f)
        elif op == "read":
            fd = os.open(f, os.O_RDONLY); os.read(fd, 1); os.close(fd)
        elif op == "write":
            fd = os.open(f, os.O_WRONLY); os.close(fd)
        out.append("0")
    except OSError as e:
        out.append(errno.errorcode[e.errno])
print(json.dumps(out))
`;
  // The system python: one in root's home (pyenv) is not the other user's to run.
  const r = spawnSync('setpriv', [`--reuid=${uid}`, `--regid=${gid}`, '--clear-groups', '/usr/bin/python3', '-c', code, JSON.stringify(probes)], {
    encoding: 'utf8', env: { PATH: '/usr/bin:/bin', LANG: 'C' }, cwd: '/',
  });
  if (r.status !== 0) throw new Error(`probe as ${USER} failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as string[];
}

/** A mount whose parent directories the other user may traverse (so only FUSE can refuse). */
async function openMount(extra: string[]): Promise<Fixture> {
  const f = await mounted(['--size', '16M', '--zone-size', '1M', '--volatile-cache']);
  fs.chmodSync(f.dir, 0o755);
  if (extra.length) {
    await f.daemon.stop();
    await f.daemon.start(extra);
  }
  return f;
}

describe('private mounts', () => {
  it('without --allow-other another user can open nothing under the mount', async () => {
    const f = await openMount([]);
    const files = [f.mnt, f.ns(), `${f.mnt}/nvme0n1.zones`, f.zone(3), `${f.mnt}/nvme0n1.zones/ctl`, `${f.mnt}/nvme0n1.zones/info`, `${f.mnt}/ctl`, `${f.mnt}/info`];
    const dirs = new Set([f.mnt, `${f.mnt}/nvme0n1.zones`]);
    const got = asOther(files.flatMap((p) => (dirs.has(p) ? [['stat', p], ['list', p]] : [['stat', p], ['read', p], ['write', p]]) as [('stat' | 'list' | 'read' | 'write'), string][]));
    expect(got).toHaveLength(3 * files.length - 2);
    expect(new Set(got)).toEqual(new Set(['EACCES']));
    // The owner is not affected.
    expect(fs.readdirSync(f.mnt)).toContain('nvme0n1');
  });

  it('with --allow-other the modes decide: data readable, nothing writable, ctl the owner\'s only', async () => {
    const f = await openMount(['--allow-other']);
    const zones = `${f.mnt}/nvme0n1.zones`;
    const mode = (p: string): number => fs.statSync(p).mode & 0o777;
    expect(mode(f.ns())).toBe(0o644);
    expect(mode(f.zone(3))).toBe(0o644);
    expect(mode(`${zones}/ctl`)).toBe(0o200);
    expect(mode(`${f.mnt}/ctl`)).toBe(0o200);
    expect(mode(`${zones}/info`)).toBe(0o444);
    expect(asOther([
      ['list', f.mnt], ['list', zones],
      ['read', f.ns()], ['write', f.ns()],
      ['read', f.zone(3)], ['write', f.zone(3)],
      ['read', `${zones}/info`], ['read', `${zones}/report`],
      ['write', `${zones}/ctl`], ['write', `${f.mnt}/ctl`],
    ])).toEqual(['0', '0', '0', 'EACCES', '0', 'EACCES', '0', '0', 'EACCES', 'EACCES']);
    // A zone made read-only loses its write bits, for everybody.
    fs.writeFileSync(`${zones}/ctl`, 'readonly 4');
    expect(mode(f.zone(4))).toBe(0o444);
    expect(asOther([['read', f.zone(4)], ['write', f.zone(4)]])).toEqual(['0', 'EACCES']);
    // The owner still commands the device.
    fs.writeFileSync(`${zones}/ctl`, 'finish 5');
    expect(fs.statSync(f.zone(5)).size).toBe(1024 * 1024);
  });

  it('store files are the owner\'s only, whatever the umask', async () => {
    const f = await openMount([]);
    // The cache is on: a write and a flush make the undo log.
    fs.writeFileSync(f.zone(2), Buffer.alloc(4096, 1), { flag: 'a' });
    const names = fs.readdirSync(f.store).filter((n) => /\.(data|zmeta|undo)$/.test(n));
    expect(names.sort()).toEqual(expect.arrayContaining(['nvme0n1.data', 'nvme0n1.zmeta']));
    for (const n of names) expect((fs.statSync(path.join(f.store, n)).mode & 0o777).toString(8), n).toBe('600');
    expect(asOther(names.map((n) => ['read', path.join(f.store, n)] as ['read', string]))).toEqual(names.map(() => 'EACCES'));
    // A namespace created at run time too.
    fs.writeFileSync(`${f.mnt}/ctl`, 'create extra size=4M zone-size=1M');
    for (const n of ['extra.data', 'extra.zmeta']) expect((fs.statSync(path.join(f.store, n)).mode & 0o777).toString(8), n).toBe('600');
  });
});
