/**
 * Serving a ZoneFs through fuse-native: handler adapters, mount and unmount, stale mounts.
 *
 * Every handler is wrapped so that nothing can throw into fuse-native (that kills the process
 * and leaves a dead mount) and every callback gets a number (cb(null) crashes it too).
 */
import * as path from 'node:path';
import Fuse from 'fuse-native';
import { createFuse } from './mount-options.js';
import { WRITE_HELD, ZoneFs } from '../vfs/zone-fs.js';
import { Logger } from '../log.js';
import { FSNAME_PREFIX, findMount } from './mounts.js';
import { prepareMountpoint } from './mountpoint.js';
import { startUnmountGuard } from './unmount-guard.js';
import type { BackendMountOptions, FuseBackend, MountHandle } from './backend.js';

export { MountEntry, findMount, fusermountLazy, listMounts, storeOfMount } from './mounts.js';
export { prepareMountpoint } from './mountpoint.js';
export type { MountHandle } from './backend.js';

const EIO = -5;
const EPERM = -1;

const answerWrite = (cb: (n: number) => void, r: number): void => cb(r);

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
    // A write ahead of its zone's write pointer may be held: fuse-native keeps buf until cb.
    write: (_p, fd, buf, len, pos, cb) => {
      let r: number;
      try {
        r = zfs.submitWrite(fd, buf, len, pos, answerWrite, cb);
      } catch (e) {
        r = internal('write', e);
      }
      if (r !== WRITE_HELD) cb(r);
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

/** Mount a ZoneFs at `mnt` through fuse-native and resolve once the kernel handshake is done. */
export async function mountZoneFs(
  zfs: ZoneFs, mnt: string, storeDir: string, log: Logger, opts: BackendMountOptions = {},
): Promise<MountHandle> {
  const abs = path.resolve(mnt);
  if (storeDir.includes(',')) throw new Error(`store path ${storeDir} contains a comma, which FUSE option strings cannot carry`);
  prepareMountpoint(abs, log);
  if (opts.autoUnmount ?? true) startUnmountGuard(abs);
  const fuse = createFuse(abs, fuseOperations(zfs, log), {
    fsname: FSNAME_PREFIX + path.resolve(storeDir),
    subtype: 'zonefuse',
    // fusermount's helper removes the mount within a second if the daemon dies (kill -9).
    autoUnmount: opts.autoUnmount ?? true,
    // Others in only with allow_other, and then the kernel enforces the modes (backend.ts).
    ...(opts.allowOther ? { allowOther: true, defaultPermissions: true } : {}),
    timeout: false,
  });
  await new Promise<void>((resolve, reject) => {
    fuse.mount((err: Error | null) => (err ? reject(err) : resolve()));
  });
  let mounted = true;
  return {
    mountpoint: abs,
    backend: 'fuse-native',
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

export const fuseNativeBackend: FuseBackend = { name: 'fuse-native', mount: mountZoneFs };
