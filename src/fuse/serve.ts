/**
 * Serving a ZoneFs through fuse-native: handler adapters, mount and unmount, stale mounts.
 *
 * Every handler is wrapped so that nothing can throw into fuse-native (that kills the process
 * and leaves a dead mount) and every callback gets a number (cb(null) crashes it too).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import Fuse from 'fuse-native';
import { createFuse } from './mount-options.js';
import { ZoneFs } from '../vfs/zone-fs.js';
import { Logger } from '../log.js';

const EIO = -5;
const EPERM = -1;
const FSNAME_PREFIX = 'zonefuse:';

export interface MountEntry {
  source: string;
  mountpoint: string;
  type: string;
}

/** /proc/mounts escapes space, tab, newline and backslash as octal. */
function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

export function listMounts(): MountEntry[] {
  let text: string;
  try {
    text = fs.readFileSync('/proc/mounts', 'utf8');
  } catch {
    return [];
  }
  return text.split('\n').filter(Boolean).map((line) => {
    const [source = '', mountpoint = '', type = ''] = line.split(' ');
    return { source: unescapeMount(source), mountpoint: unescapeMount(mountpoint), type };
  });
}

export function findMount(mnt: string): MountEntry | undefined {
  const abs = path.resolve(mnt);
  return listMounts().reverse().find((m) => m.mountpoint === abs);
}

/** The store directory a zonefuse mount serves (from its fsname), or undefined. */
export function storeOfMount(m: MountEntry): string | undefined {
  return m.source.startsWith(FSNAME_PREFIX) ? m.source.slice(FSNAME_PREFIX.length) : undefined;
}

export function fusermountLazy(mnt: string): void {
  execFileSync('fusermount', ['-u', '-z', mnt], { stdio: 'ignore' });
}

/**
 * Make `mnt` usable as a mount point: create it if missing, clean up a dead mount left by a
 * killed daemon (ENOTCONN), refuse a live mount.
 */
export function prepareMountpoint(mnt: string, log: Logger): void {
  try {
    fs.statSync(mnt);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      fs.mkdirSync(mnt, { recursive: true });
      return;
    }
    if (code === 'ENOTCONN' || code === 'ECONNABORTED') {
      log.warn({ mountpoint: mnt }, `cleaning up a stale mount at ${mnt} (transport endpoint is not connected: its daemon died)`);
      fusermountLazy(mnt);
      fs.statSync(mnt);
      return;
    }
    throw e;
  }
  const existing = findMount(mnt);
  if (existing) {
    throw new Error(`${mnt} is already a mount point (${existing.source}, type ${existing.type}); unmount it first`);
  }
  if (!fs.statSync(mnt).isDirectory()) throw new Error(`mount point ${mnt} is not a directory`);
}

type Cb = (err: number, ...rest: never[]) => void;

/** Build the fuse-native operation table for a ZoneFs. */
export function fuseOperations(zfs: ZoneFs, log: Logger): Fuse.Operations {
  const fail = (op: string, e: unknown, cb: (n: number) => void): void => {
    log.error({ err: e, op }, `internal error in ${op}; answering EIO`);
    cb(EIO);
  };
  const num = (n: number): number => (n < 0 ? n : 0);
  return {
    getattr(p, cb) {
      try {
        const a = zfs.getattr(p);
        if (typeof a === 'number') cb(a);
        else cb(0, a);
      } catch (e) {
        fail('getattr', e, cb as Cb);
      }
    },
    fgetattr(_p, fd, cb) {
      try {
        const a = zfs.fgetattr(fd);
        if (typeof a === 'number') cb(a);
        else cb(0, a);
      } catch (e) {
        fail('fgetattr', e, cb as Cb);
      }
    },
    readdir(p, cb) {
      try {
        const r = zfs.readdir(p);
        if (typeof r === 'number') cb(r);
        else cb(0, r);
      } catch (e) {
        fail('readdir', e, cb as Cb);
      }
    },
    statfs(_p, cb) {
      try {
        cb(0, zfs.statfs());
      } catch (e) {
        fail('statfs', e, cb as Cb);
      }
    },
    open(p, flags, cb) {
      try {
        const r = zfs.open(p, flags);
        if (r < 0) cb(r);
        else cb(0, r);
      } catch (e) {
        fail('open', e, cb as Cb);
      }
    },
    read(_p, fd, buf, len, pos, cb) {
      try {
        cb(zfs.read(fd, buf, len, pos));
      } catch (e) {
        fail('read', e, cb);
      }
    },
    write(_p, fd, buf, len, pos, cb) {
      try {
        cb(zfs.write(fd, buf, len, pos));
      } catch (e) {
        fail('write', e, cb);
      }
    },
    flush(_p, fd, cb) {
      try {
        cb(num(zfs.flush(fd)));
      } catch (e) {
        fail('flush', e, cb);
      }
    },
    fsync(_p, _datasync, fd, cb) {
      try {
        cb(num(zfs.fsync(fd)));
      } catch (e) {
        fail('fsync', e, cb);
      }
    },
    release(_p, fd, cb) {
      try {
        cb(num(zfs.release(fd)));
      } catch (e) {
        fail('release', e, cb);
      }
    },
    truncate(p, size, cb) {
      try {
        cb(num(zfs.truncate(p, size)));
      } catch (e) {
        fail('truncate', e, cb);
      }
    },
    ftruncate(_p, fd, size, cb) {
      try {
        cb(num(zfs.ftruncate(fd, size)));
      } catch (e) {
        fail('ftruncate', e, cb);
      }
    },
    utimens(p, _atime, _mtime, cb) {
      // Timestamps follow writes; touch(1) must still succeed.
      cb(zfs.getattr(p) === -2 ? -2 : 0);
    },
    // The tree is fixed: no creating, removing or renaming anything (zonefs answers EPERM).
    create(_p, _mode, cb) {
      cb(EPERM);
    },
    mknod(_p, _mode, _dev, cb) {
      cb(EPERM);
    },
    unlink(_p, cb) {
      cb(EPERM);
    },
    mkdir(_p, _mode, cb) {
      cb(EPERM);
    },
    rmdir(_p, cb) {
      cb(EPERM);
    },
    rename(_src, _dest, cb) {
      cb(EPERM);
    },
    symlink(_src, _dest, cb) {
      cb(EPERM);
    },
    link(_src, _dest, cb) {
      cb(EPERM);
    },
    chmod(_p, _mode, cb) {
      cb(EPERM);
    },
    chown(_p, _uid, _gid, cb) {
      cb(EPERM);
    },
  };
}

export interface MountHandle {
  readonly mountpoint: string;
  unmount(): Promise<void>;
}

/** Mount a ZoneFs at `mnt` and resolve once the kernel handshake is done. */
export async function mountZoneFs(
  zfs: ZoneFs, mnt: string, storeDir: string, log: Logger, opts: { autoUnmount?: boolean } = {},
): Promise<MountHandle> {
  const abs = path.resolve(mnt);
  if (storeDir.includes(',')) throw new Error(`store path ${storeDir} contains a comma, which FUSE option strings cannot carry`);
  prepareMountpoint(abs, log);
  const fuse = createFuse(abs, fuseOperations(zfs, log), {
    fsname: FSNAME_PREFIX + path.resolve(storeDir),
    subtype: 'zonefuse',
    // fusermount's helper removes the mount within a second if the daemon dies (kill -9).
    autoUnmount: opts.autoUnmount ?? true,
    timeout: false,
  });
  await new Promise<void>((resolve, reject) => {
    fuse.mount((err: Error | null) => (err ? reject(err) : resolve()));
  });
  let mounted = true;
  return {
    mountpoint: abs,
    async unmount(): Promise<void> {
      if (!mounted) return;
      mounted = false;
      if (!findMount(abs)) return;
      await new Promise<void>((resolve) => {
        fuse.unmount((err: Error | null) => {
          if (err) log.warn({ err }, `unmount of ${abs} reported an error`);
          resolve();
        });
      });
    },
  };
}
