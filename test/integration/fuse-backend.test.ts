/**
 * What every FUSE backend must do besides the file semantics (PRODUCT.md §9, run on each backend
 * by scripts/test): say which backend serves, answer requests it does not implement with an
 * errno, unmount and save on SIGINT/SIGTERM, and leave no mount behind when it dies.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { describe, it, expect } from 'vitest';
import { ROOT, TEST_FUSE, cli, mounted, py, waitFor } from '../helpers/mount.js';
import { tmpDir } from '../helpers/tmp.js';

const GEO = ['--size', '64M', '--zone-size', '4M', '--conv-zones', '1'];
const BACKEND = TEST_FUSE || 'fuse-native';

function isMounted(mnt: string): boolean {
  return fs.readFileSync('/proc/mounts', 'utf8').split('\n').some((l) => l.split(' ')[1] === mnt);
}

describe(`FUSE backend ${BACKEND}`, () => {
  it('zonefuse info MNT names the backend that serves the mount', async () => {
    const f = await mounted(GEO);
    const r = cli(['info', f.mnt]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^fuse_backend: ${BACKEND}$`, 'm'));
    expect(cli(['info', f.store]).stdout).toMatch(new RegExp(`^fuse_backend: ${BACKEND}$`, 'm'));
  });

  it('requests it does not implement get an errno, and the daemon keeps serving', async () => {
    const f = await mounted(GEO);
    const r = py(`
import errno, fcntl, os, sys
ns, mnt = sys.argv[1], sys.argv[2]
def code(fn):
    try:
        fn()
        return 'ok'
    except OSError as e:
        return errno.errorcode[e.errno]
fd = os.open(ns, os.O_RDWR)
print('setxattr', code(lambda: os.setxattr(ns, 'user.x', b'1')))
print('getxattr', code(lambda: os.getxattr(ns, 'user.x')))
print('ioctl', code(lambda: fcntl.ioctl(fd, 0x80086601, bytearray(8))))  # FS_IOC_GETFLAGS
print('mknod', code(lambda: os.mknod(mnt + '/fifo', 0o600 | 0o010000)))
print('symlink', code(lambda: os.symlink('nvme0n1', mnt + '/link')))
print('link', code(lambda: os.link(ns, mnt + '/hard')))
print('rename', code(lambda: os.rename(ns, mnt + '/other')))
print('chown', code(lambda: os.chown(ns, 1, 1)))
print('readlink', code(lambda: os.readlink(ns)))
print('lookup', code(lambda: os.stat(mnt + '/nvme0n1.zones/99')))
print('opendir-file', code(lambda: os.listdir(ns)))
os.close(fd)
`, f.ns(), f.mnt);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe([
      'setxattr ENOTSUP', 'getxattr ENOTSUP', 'ioctl ENOTTY', 'mknod EPERM', 'symlink EPERM', 'link EPERM',
      'rename EPERM', 'chown EPERM', 'readlink EINVAL', 'lookup ENOENT', 'opendir-file ENOTDIR', '',
    ].join('\n'));
    expect(fs.statSync(f.ns()).size).toBe(64 * 1024 * 1024);
  });

  it('SIGINT unmounts and saves the zone state', async () => {
    const f = await mounted(GEO);
    fs.appendFileSync(f.zone(2), Buffer.alloc(8192, 7));
    f.daemon.proc!.kill('SIGINT');
    await waitFor(() => f.daemon.exitCode !== null, 'daemon exit');
    expect(f.daemon.exitCode).toBe(0);
    expect(isMounted(f.mnt)).toBe(false);
    expect(f.daemon.stderr).toMatch(/unmounted; zone state saved/);
    await f.daemon.start();
    expect(fs.statSync(f.zone(2)).size).toBe(8192);
  });

  it('the mount goes away when the daemon is killed (auto_unmount)', async () => {
    const f = await mounted(GEO);
    await f.daemon.kill9();
    await waitFor(() => !isMounted(f.mnt), 'the fusermount helper to remove the mount', 15_000);
  });

  it('serveStore (the library) serves a store with this backend and saves it on unmount', async () => {
    const dir = tmpDir('zonefuse-serve-');
    const store = path.join(dir, 'store');
    const mnt = path.join(dir, 'mnt');
    expect(cli(['create', store, ...GEO]).status).toBe(0);
    const code = `
      const z = await import(${JSON.stringify(path.join(ROOT, 'dist', 'index.js'))});
      const s = await z.serveStore(process.argv[1], process.argv[2], { fuse: process.argv[3] });
      console.log('served ' + s.backend);
      process.on('SIGTERM', async () => { await s.unmount(); process.exit(0); });`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', code, store, mnt, BACKEND], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    let exited: number | null = null;
    child.on('exit', (c) => (exited = c ?? -1));
    try {
      await waitFor(() => out.includes('served') || exited !== null, 'serveStore');
      expect(out.trim()).toBe(`served ${BACKEND}`);
      fs.appendFileSync(path.join(mnt, 'nvme0n1.zones', '3'), Buffer.alloc(4096, 1));
      child.kill('SIGTERM');
      await waitFor(() => exited !== null, 'exit');
      expect(exited).toBe(0);
      expect(isMounted(mnt)).toBe(false);
    } finally {
      if (exited === null) child.kill('SIGKILL');
      if (isMounted(mnt)) spawn('fusermount', ['-u', '-z', mnt]);
    }
    expect(cli(['report', store]).stdout).toMatch(/wptr 0x000008 /);
  });
});
