/**
 * `zonefuse doctor` and the checks `zonefuse mount` makes before loading a backend, on this
 * machine and on this machine with pieces removed: each removal runs in a private mount
 * namespace (unshare -m) where /dev/null or an empty file is bind-mounted over the piece, so
 * nothing outside the test process tree changes. Those cases need root (CI runs as root).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { CLI, ROOT } from '../helpers/mount.js';
import { tmpDir } from '../helpers/tmp.js';

const isRoot = process.getuid?.() === 0;
const LINE = /^(ok {6}|missing )[^:]+: \S/;

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI with `hide` (paths) covered by /dev/null, or by an empty file for devices. */
function without(hide: string[], args: string[], env: NodeJS.ProcessEnv = {}): Run {
  const dir = tmpDir('zonefuse-doctor-');
  const empty = path.join(dir, 'empty');
  fs.writeFileSync(empty, '');
  const binds = hide.map((p) => `mount --bind ${p.startsWith('/dev/') ? empty : '/dev/null'} ${p}`).join(' && ');
  const cmd = `${binds || 'true'} && exec "$0" "$@"`;
  const r = spawnSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c', cmd, process.execPath, CLI, ...args], {
    encoding: 'utf8',
    env: { ...process.env, ZONEFUSE_DEFAULT_STORE: path.join(dir, 'store'), ...env },
    timeout: 60_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function line(out: string, subject: string): string {
  const l = out.split('\n').find((x) => x.slice(8).startsWith(`${subject}: `));
  if (!l) throw new Error(`no line for ${subject} in:\n${out}`);
  return l;
}

describe('zonefuse doctor', () => {
  it('passes on this machine, one line per check, and reads the kernel FUSE protocol', () => {
    const r = spawnSync(process.execPath, [CLI, 'doctor'], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    const verdict = lines.pop()!;
    expect(verdict).toBe('zonefuse doctor: the default mount (fuse-native) will work');
    for (const l of lines) expect(l).toMatch(LINE);
    for (const subject of ['/dev/fuse', 'kernel FUSE', 'fusermount', 'fusermount3', 'libfuse2', 'libfuse3-3', 'fuse-native', 'koffi', 'preload library', 'blkzone', 'fio', 'zbd']) {
      expect(line(r.stdout, subject)).toMatch(/^ok /);
    }
    if (isRoot) expect(line(r.stdout, 'kernel FUSE')).toMatch(/protocol 7\.\d+ \(read from an INIT request\)/);
    // The probe mount is gone.
    expect(fs.readFileSync('/proc/mounts', 'utf8')).not.toMatch(/zonefuse-doctor/);
  });

  it('finds what it checks without PATH (the standard directories are searched; the library is probed with node itself)', () => {
    const r = spawnSync(process.execPath, [CLI, 'doctor', '--no-probe'], { encoding: 'utf8', env: { ...process.env, PATH: tmpDir('zonefuse-doctor-path-') } });
    expect(r.status).toBe(0);
    expect(line(r.stdout, 'preload library')).toMatch(/^ok +preload library: \/.*libzonefuse-preload\.so preloads$/);
    for (const subject of ['fusermount', 'blkzone', 'fio', 'zbd']) expect(line(r.stdout, subject)).toMatch(/^ok /);
  });

  it('without the probe, says the kernel features are judged by the release', () => {
    const r = spawnSync(process.execPath, [CLI, 'doctor', '--no-probe'], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(line(r.stdout, 'kernel FUSE')).toMatch(/protocol not read from an INIT request \(--no-probe\), features judged by the release$/);
    expect(line(r.stdout, 'kernel FUSE_MAX_PAGES')).toMatch(/^ok +kernel FUSE_MAX_PAGES: offered \(release /);
  });
});

describe.runIf(isRoot)('with pieces removed', () => {
  it('libfuse2 missing: doctor fails and mount fails with the same line, before mounting anything', () => {
    const lib = fs.realpathSync('/lib/x86_64-linux-gnu/libfuse.so.2');
    const d = without([lib], ['doctor']);
    expect(d.status).toBe(1);
    const missing = line(d.stdout, 'libfuse2');
    expect(missing).toBe('missing libfuse2: libfuse.so.2 not found (needed by the fuse-native backend): apt install libfuse2');
    expect(line(d.stdout, 'fuse-native')).toMatch(/^missing fuse-native: its binding/);
    expect(d.stdout.trimEnd().split('\n').pop()).toBe('zonefuse doctor: the default mount (fuse-native) would fail: libfuse2, fuse-native missing');

    const mnt = path.join(tmpDir('zonefuse-doctor-mnt-'), 'mnt');
    const m = without([lib], ['mount', mnt]);
    expect(m.status).toBe(1);
    expect(m.stderr).toBe(`zonefuse: ${missing}\n`);
    expect(fs.existsSync(mnt)).toBe(false);
  });

  it('/dev/fuse missing: both fail with the same line', () => {
    const d = without(['/dev/fuse'], ['doctor']);
    expect(d.status).toBe(1);
    const missing = line(d.stdout, '/dev/fuse');
    expect(missing).toMatch(/^missing \/dev\/fuse: \/dev\/fuse is not the FUSE device \(character 10:229\): load the fuse module \(modprobe fuse\)/);
    // No INIT probe without the device; the kernel line says why.
    expect(line(d.stdout, 'kernel FUSE')).toMatch(/the probe mount failed/);
    const m = without(['/dev/fuse'], ['mount', path.join(tmpDir('zonefuse-doctor-mnt-'), 'mnt')]);
    expect(m.status).toBe(1);
    expect(m.stderr).toBe(`zonefuse: ${missing}\n`);
  });

  it('fusermount3 missing (fusermount is a link to it): doctor fails naming the apt package', () => {
    const d = without([fs.realpathSync('/usr/bin/fusermount3')], ['doctor']);
    expect(d.status).toBe(1);
    expect(line(d.stdout, 'fusermount')).toBe('missing fusermount: not found (needed by the fuse-native backend, for auto_unmount and unmount): apt install fuse3');
    expect(line(d.stdout, 'fusermount3')).toMatch(/^missing fusermount3: not found .*: apt install fuse3$/);
  });

  it('the zoned tools, the preload library and libfuse3 missing: reported, but the default mount still works', () => {
    const preload = path.join(ROOT, 'native/preload/build/libzonefuse-preload.so');
    const hide = ['/usr/bin/fio', '/usr/bin/zbd', '/usr/sbin/blkzone', fs.realpathSync('/lib/x86_64-linux-gnu/libfuse3.so.3'), preload];
    const d = without(hide, ['doctor']);
    expect(d.status).toBe(0);
    expect(line(d.stdout, 'fio')).toBe('missing fio: not found (needed by zonefuse exec fio --zonemode=zbd): apt install fio');
    expect(line(d.stdout, 'zbd')).toBe('missing zbd: not found (needed by zonefuse exec zbd): apt install zbd-utils');
    expect(line(d.stdout, 'blkzone')).toBe('missing blkzone: not found (needed by zonefuse exec blkzone): apt install util-linux');
    expect(line(d.stdout, 'libfuse3-3')).toBe('missing libfuse3-3: libfuse3.so.3 not found (needed by the libfuse3 backend): apt install libfuse3-3');
    expect(line(d.stdout, 'zonefuse-fuse3')).toMatch(/^missing zonefuse-fuse3: the libfuse3 backend does not load \(.*libfuse3\.so\.3: /);
    expect(line(d.stdout, 'preload library')).toBe(
      `missing preload library: the compatibility library for zoned tools (${preload}) is not an ELF file: ` +
        'run scripts/setup, or bash native/preload/build.sh (needs apt install gcc)',
    );
    expect(d.stdout.trimEnd().split('\n').pop()).toBe('zonefuse doctor: the default mount (fuse-native) will work; also missing: libfuse3-3, zonefuse-fuse3, preload library, blkzone, fio, zbd');

    // The commands that need them stop with doctor's line, before doing anything.
    const mnt = path.join(tmpDir('zonefuse-doctor-mnt-'), 'mnt');
    const m = without(hide, ['mount', '--fuse', 'libfuse3', mnt]);
    expect(m.status).toBe(1);
    expect(m.stderr).toBe(`zonefuse: ${line(d.stdout, 'libfuse3-3')}\n`);
    expect(fs.existsSync(mnt)).toBe(false);
    const x = without(hide, ['exec', 'true']);
    expect(x.status).toBe(1);
    expect(x.stderr).toBe(`zonefuse: ${line(d.stdout, 'preload library').slice('missing preload library: '.length)}\n`);
  });
});
