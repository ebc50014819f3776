/**
 * Serving a ZoneFs through fuse-native: handler adapters, mount and unmount, stale mounts.
 *
 * Every handler is wrapped so that nothing can throw into fuse-native (that kills the process
 * and leaves a dead mount) and every callback gets a number (cb(null) crashes it too).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import Fuse from 'fuse-native';
import { createFuse } from './mount-options.js';
import { ZoneFs } from '../vfs/zone-fs.js';
import { Logger } from '../log.js';
import { FSNAME_PREFIX, findMount, fusermountLazy } from './mounts.js';

export { MountEntry, findMount, fusermountLazy, listMounts, storeOfMount } from './mounts.js';

const EIO = -5;
const EPERM = -1;

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

/** Build the fuse-native operation table for a ZoneFs. */
export function fuseOperations(zfs: ZoneFs, log: Logger): Fuse.Operations {
  // The three callback shapes fuse-native has. Each catches everything the handler throws.
  const internal = (op: string, e: unknown): number => {
    log.error({ err: e, op }, `internal error in ${op}; answering EIO`);
    return EIO;
  };
  /** cb(-errno) or cb(0, value). */
  const value = <T>(op: string, cb: (err: number, v?: T) => void, fn: () => number | T): void => {
    let r: number | T;
    try {
      r = fn();
    } catch (e) {
      cb(internal(op, e));
      return;
    }
    if (typeof r === 'number') cb(r);
    else cb(0, r);
  };
  /** cb(0) or cb(-errno). */
  const status = (op: string, cb: (err: number) => void, fn: () => number): void => {
    let r: number;
    try {
      r = fn();
    } catch (e) {
      r = internal(op, e);
    }
    cb(r < 0 ? r : 0);
  };
  /** read/write: cb(bytes) or cb(-errno). */
  const count = (op: string, cb: (n: number) => void, fn: () => number): void => {
    let r: number;
    try {
      r = fn();
    } catch (e) {
      r = internal(op, e);
    }
    cb(r);
  };
  const refuse = (cb: (err: number) => void): void => cb(EPERM);
  return {
    getattr: (p, cb) => value('getattr', cb, () => zfs.getattr(p)),
    fgetattr: (_p, fd, cb) => value('fgetattr', cb, () => zfs.fgetattr(fd)),
    readdir: (p, cb) => value('readdir', cb, () => zfs.readdir(p)),
    statfs: (_p, cb) => value('statfs', cb, () => zfs.statfs()),
    open: (p, flags, cb) => count('open', (fh) => (fh < 0 ? cb(fh) : cb(0, fh)), () => zfs.open(p, flags)),
    // read and write without a closure per request (the hot path).
    read: (_p, fd, buf, len, pos, cb) => {
      let r: number;
      try {
        r = zfs.read(fd, buf, len, pos);
      } catch (e) {
        r = internal('read', e);
      }
      cb(r);
    },
    write: (_p, fd, buf, len, pos, cb) => {
      let r: number;
      try {
        r = zfs.write(fd, buf, len, pos);
      } catch (e) {
        r = internal('write', e);
      }
      cb(r);
    },
    flush: (_p, fd, cb) => status('flush', cb, () => zfs.flush(fd)),
    fsync: (_p, _datasync, fd, cb) => status('fsync', cb, () => zfs.fsync(fd)),
    release: (_p, fd, cb) => status('release', cb, () => zfs.release(fd)),
    truncate: (p, size, cb) => status('truncate', cb, () => zfs.truncate(p, size)),
    ftruncate: (_p, fd, size, cb) => status('ftruncate', cb, () => zfs.ftruncate(fd, size)),
    // Timestamps follow writes; touch(1) must still succeed on existing files.
    utimens: (p, _atime, _mtime, cb) => status('utimens', cb, () => {
      const a = zfs.getattr(p);
      return typeof a === 'number' ? a : 0;
    }),
    // The tree is fixed: nothing is created, removed, renamed or re-permissioned (zonefs: EPERM).
    create: (_p, _mode, cb) => refuse(cb),
    mknod: (_p, _mode, _dev, cb) => refuse(cb),
    unlink: (_p, cb) => refuse(cb),
    mkdir: (_p, _mode, cb) => refuse(cb),
    rmdir: (_p, cb) => refuse(cb),
    rename: (_src, _dest, cb) => refuse(cb),
    symlink: (_src, _dest, cb) => refuse(cb),
    link: (_src, _dest, cb) => refuse(cb),
    chmod: (_p, _mode, cb) => refuse(cb),
    chown: (_p, _uid, _gid, cb) => refuse(cb),
  };
}

export interface MountHandle {
  readonly mountpoint: string;
  unmount(): Promise<void>;
}

/** What every FUSE backend honours when it mounts a ZoneFs. */
export interface ZoneFsMountOptions {
  /** Remove the mount when the daemon dies (default true). */
  autoUnmount?: boolean;
  /**
   * Let users other than the one who mounted in (FUSE allow_other), with the kernel enforcing
   * the modes the vfs reports (default_permissions): data files read-only to them, ctl writable
   * by its owner only. Default false: nobody else can open anything under the mount.
   */
  allowOther?: boolean;
}

/** Mount a ZoneFs at `mnt` and resolve once the kernel handshake is done. */
export async function mountZoneFs(
  zfs: ZoneFs, mnt: string, storeDir: string, log: Logger, opts: ZoneFsMountOptions = {},
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
    ...(opts.allowOther ? { allowOther: true, defaultPermissions: true } : {}),
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
