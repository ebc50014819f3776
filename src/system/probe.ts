/**
 * Looking at the machine without changing it: programs on PATH, shared libraries where the
 * dynamic linker looks for them, the FUSE device and the kernel's FUSE support. Nothing here
 * loads native code, so these probes work on a machine where zonefuse's native parts cannot.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/**
 * Directories searched for programs: PATH, then the sbin directories a non-root PATH often
 * lacks (blkzone lives in /sbin on Debian).
 */
function programDirs(): string[] {
  const dirs = (process.env.PATH ?? '').split(':').filter(Boolean);
  for (const d of ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin']) {
    if (!dirs.includes(d)) dirs.push(d);
  }
  return dirs;
}

/** The absolute path of the first executable named `name`, or undefined. */
export function findProgram(name: string): string | undefined {
  for (const dir of programDirs()) {
    const p = path.join(dir, name);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      if (fs.statSync(p).isFile()) return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** Debian's multiarch directory names, by Node's process.arch. */
const MULTIARCH: Record<string, string> = {
  x64: 'x86_64-linux-gnu',
  arm64: 'aarch64-linux-gnu',
  arm: 'arm-linux-gnueabihf',
  ia32: 'i386-linux-gnu',
  ppc64: 'powerpc64le-linux-gnu',
  riscv64: 'riscv64-linux-gnu',
  s390x: 's390x-linux-gnu',
};

/**
 * Where a shared library named by its soname (e.g. `libfuse.so.2`) would be found:
 * LD_LIBRARY_PATH, then the standard (multiarch) directories. This is a file check, not a
 * dlopen: the native-load checks of doctor find what a file check cannot (wrong architecture).
 */
export function findLibrary(soname: string): string | undefined {
  const triplet = MULTIARCH[process.arch];
  const dirs = (process.env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean);
  for (const base of ['/lib', '/usr/lib', '/usr/local/lib']) {
    if (triplet) dirs.push(`${base}/${triplet}`);
  }
  dirs.push('/lib64', '/usr/lib64', '/lib', '/usr/lib', '/usr/local/lib');
  for (const dir of dirs) {
    const p = path.join(dir, soname);
    try {
      if (fs.statSync(p).isFile()) return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

export interface DeviceState {
  ok: boolean;
  detail: string;
}

/** The FUSE device's major:minor (misc device 229, <linux/miscdevice.h>). */
const FUSE_RDEV = '10:229';

/** /dev/fuse must be a character device this user can open read-write. */
export function fuseDeviceState(dev = '/dev/fuse'): DeviceState {
  let st: fs.Stats;
  try {
    st = fs.statSync(dev);
  } catch {
    return { ok: false, detail: `${dev} does not exist` };
  }
  const rdev = `${(st.rdev >>> 8) & 0xfff}:${(st.rdev & 0xff) | ((st.rdev >>> 12) & 0xfff00)}`; // glibc's dev_t encoding
  if (!st.isCharacterDevice() || rdev !== FUSE_RDEV) return { ok: false, detail: `${dev} is not the FUSE device (character ${FUSE_RDEV})` };
  try {
    fs.closeSync(fs.openSync(dev, fs.constants.O_RDWR));
  } catch (e) {
    return { ok: false, detail: `${dev} (${rdev}) cannot be opened read-write: ${(e as NodeJS.ErrnoException).code}` };
  }
  return { ok: true, detail: `character device ${rdev}, opens read-write` };
}

/** Whether the running kernel has the `fuse` file system type registered (/proc/filesystems). */
export function kernelHasFuse(): boolean {
  try {
    return /^nodev\s+fuse$/m.test(fs.readFileSync('/proc/filesystems', 'utf8'));
  } catch {
    return false;
  }
}

/** `6.18.44-fc-v1147` → [6, 18]. */
export function kernelVersion(release = os.release()): [number, number] | undefined {
  const m = /^(\d+)\.(\d+)/.exec(release);
  return m ? [Number(m[1]), Number(m[2])] : undefined;
}

/** The nearest existing ancestor of `dir` (itself if it exists). */
export function existingAncestor(dir: string): string {
  let d = path.resolve(dir);
  while (!fs.existsSync(d)) {
    const up = path.dirname(d);
    if (up === d) break;
    d = up;
  }
  return d;
}
