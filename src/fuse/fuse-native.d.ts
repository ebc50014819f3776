/**
 * Type declarations for fuse-native 2.2.6 (the package ships none). Written from
 * node_modules/fuse-native/index.js and fuse-native.c, NOT from its README, which is wrong in
 * places (e.g. the fsync argument order). Only Linux behaviour is described.
 *
 * Callback conventions (see /work/shared/reference/fuse-native.md §2.6):
 * - The first callback argument is `0` for success or a NEGATIVE errno (`Fuse.EIO`, …).
 * - `cb(null)`, `cb(undefined)` or `cb(new Error())` crashes the daemon for every op except
 *   getattr, fgetattr, statfs, readdir, getxattr and listxattr, so the types only allow numbers.
 * - `read`/`write` call back with the byte count (or a negative errno) as the FIRST argument.
 * - A handler that throws kills the process (napi_fatal_exception) and leaves a dead mount.
 * - `read`/`write`/xattr buffers are views of libfuse memory, detached once you call back:
 *   copy whatever you keep.
 * - `fh` values are uint32 on the way in and stored as int32 on the way out; 0 means "no handle".
 */
declare module 'fuse-native' {
  namespace Fuse {
    /** 0 for success, or a negative errno such as `Fuse.ENOENT`. */
    type Errno = number;
    type Callback = (err: Errno) => void;

    /** Times may be Date objects or milliseconds since the epoch (ms resolution only). */
    type Time = Date | number;

    /**
     * What getattr returns. Missing numbers default to 0 (nlink to 1); missing times default
     * to Date.now(). size and blocks are split into two uint32s, so they are exact up to 2^53.
     */
    interface Stat {
      mode: number;
      uid?: number;
      gid?: number;
      size?: number;
      dev?: number;
      nlink?: number;
      ino?: number;
      rdev?: number;
      blksize?: number;
      /** In 512-byte units. */
      blocks?: number;
      atime?: Time;
      mtime?: Time;
      ctime?: Time;
    }

    /** statvfs fields; each is truncated to uint32. */
    interface StatFs {
      bsize?: number;
      frsize?: number;
      blocks?: number;
      bfree?: number;
      bavail?: number;
      files?: number;
      ffree?: number;
      favail?: number;
      fsid?: number;
      flag?: number;
      namemax?: number;
    }

    interface Operations {
      /** Called once after the kernel INIT handshake (mount's callback fires just before). */
      init?(cb: Callback): void;
      /** Never called by libfuse; present in the op table only. */
      error?(cb: Callback): void;
      access?(path: string, mode: number, cb: Callback): void;
      statfs?(path: string, cb: (err: Errno, statfs?: StatFs) => void): void;
      /**
       * Without getattr, fuse-native answers '/' as a directory and EPERM for everything else.
       * On error, call `cb(Fuse.ENOENT)` etc.
       */
      getattr?(path: string, cb: (err: Errno, stat?: Stat) => void): void;
      /**
       * Wrapper bug: its presence enables FGETATTR, but fuse-native then calls
       * `ops.getattr(path, cb)`, never this function.
       */
      fgetattr?(path: string, fd: number, cb: (err: Errno, stat?: Stat) => void): void;
      /** Called on every close() of a file descriptor (also dup'ed ones). */
      flush?(path: string, fd: number, cb: Callback): void;
      /** NB the order is (path, datasync, fd): the README's (path, fd, datasync) is wrong. */
      fsync?(path: string, datasync: number, fd: number, cb: Callback): void;
      fsyncdir?(path: string, datasync: number, fd: number, cb: Callback): void;
      /** All names in one go (no offsets); names ≤ 1023 bytes. `stats` is ignored by FUSE 2.9. */
      readdir?(path: string, cb: (err: Errno, names?: string[], stats?: Stat[]) => void): void;
      /** Also used for open(O_TRUNC): libfuse2 has no atomic_o_trunc. */
      truncate?(path: string, size: number, cb: Callback): void;
      ftruncate?(path: string, fd: number, size: number, cb: Callback): void;
      /**
       * Wrapper bug: `mtime` carries the atime value (mtime is lost). Both are ms since epoch.
       */
      utimens?(path: string, atime: number, mtime: number, cb: Callback): void;
      readlink?(path: string, cb: (err: Errno, linkname?: string) => void): void;
      chown?(path: string, uid: number, gid: number, cb: Callback): void;
      chmod?(path: string, mode: number, cb: Callback): void;
      mknod?(path: string, mode: number, dev: number, cb: Callback): void;
      /** `value` is detached after cb. `position` is always 0 on Linux. */
      setxattr?(
        path: string,
        name: string,
        value: Buffer,
        position: number,
        flags: number,
        cb: Callback,
      ): void;
      /**
       * `cb(0, value)`; `cb(0)` without a value answers ENODATA. The value is copied into the
       * kernel's buffer (a size-0 probe just gets value.length).
       */
      getxattr?(
        path: string,
        name: string,
        position: number,
        cb: (err: Errno, value?: Buffer) => void,
      ): void;
      listxattr?(path: string, cb: (err: Errno, list?: string[]) => void): void;
      removexattr?(path: string, name: string, cb: Callback): void;
      /**
       * `flags` is fi->flags (O_ACCMODE, O_APPEND, O_DIRECT, …; O_CREAT/O_EXCL/O_TRUNC are
       * consumed by the kernel). `cb(0, fh)` stores fh (int32, only if ≠ 0). open cannot set
       * direct_io/keep_cache/nonseekable per file.
       */
      open?(path: string, flags: number, cb: (err: Errno, fd?: number) => void): void;
      /** Wrapper bug: the second argument is fi->fh (always 0 here), not the flags. */
      opendir?(path: string, flags: number, cb: (err: Errno, fd?: number) => void): void;
      /**
       * Fill `buf` (length `len`, ≤ 128 KiB) and call `cb(bytesRead)` or `cb(-errno)`.
       * With direct_io, a short count is passed to the application as-is.
       */
      read?(
        path: string,
        fd: number,
        buf: Buffer,
        len: number,
        pos: number,
        cb: (bytesReadOrErr: number) => void,
      ): void;
      /** Call `cb(bytesWritten)` or `cb(-errno)`. `buf` is detached after cb: copy what you keep. */
      write?(
        path: string,
        fd: number,
        buf: Buffer,
        len: number,
        pos: number,
        cb: (bytesWrittenOrErr: number) => void,
      ): void;
      /** Last close of an open file description; its result is ignored by the kernel. */
      release?(path: string, fd: number, cb: Callback): void;
      releasedir?(path: string, fd: number, cb: Callback): void;
      /** Does not receive the open flags. `cb(0, fh)` as for open. */
      create?(path: string, mode: number, cb: (err: Errno, fd?: number) => void): void;
      unlink?(path: string, cb: Callback): void;
      rename?(src: string, dest: string, cb: Callback): void;
      /** link(existingPath, newPath) */
      link?(src: string, dest: string, cb: Callback): void;
      /** symlink(target, linkPath): `src` is the link's contents, `dest` the new path. */
      symlink?(src: string, dest: string, cb: Callback): void;
      mkdir?(path: string, mode: number, cb: Callback): void;
      rmdir?(path: string, cb: Callback): void;
    }

    type OpName = keyof Operations;

    /**
     * Per-op timeout in ms (default 15000) after which the kernel gets -ETIMEDOUT; `false`
     * disables it. An object sets it per op: `{ default: 5000, write: false }`.
     */
    type TimeoutOption = number | false | ({ default?: number } & { [op in OpName]?: number | false });

    /**
     * Only these camelCase keys reach `-o` (the private _fuseOptions whitelist). Falsy values
     * are dropped, so e.g. `attrTimeout: 0` is NOT passed (libfuse's default stays 1 s).
     * direct_io, big_writes, max_write, negative_timeout, … cannot be passed at all.
     */
    interface Options {
      debug?: boolean;
      allowOther?: boolean;
      allowRoot?: boolean;
      /** -o auto_unmount: a fusermount helper removes the mount if the daemon dies. */
      autoUnmount?: boolean;
      defaultPermissions?: boolean;
      blkdev?: boolean;
      blksize?: number;
      maxRead?: number;
      fd?: number;
      /** Broken in 2.2.6 (produces `user_id=,<id>`); use uid/gid. */
      userId?: number;
      fsname?: string;
      subtype?: string;
      kernelCache?: boolean;
      autoCache?: boolean;
      umask?: number | string;
      uid?: number;
      gid?: number;
      /** Seconds. */
      entryTimeout?: number;
      /** Seconds. */
      attrTimeout?: number;
      acAttrTimeout?: number;
      noforget?: boolean;
      remember?: number;
      modules?: string;
      /** macOS only. */
      displayFolder?: boolean | string;
      /** macOS volume name (with displayFolder). */
      name?: string;
      /** Before mounting, `fusermount -uz` the mountpoint if stat(<mnt>/test) gives ENOTCONN/ENXIO. */
      force?: boolean;
      /** Create the mountpoint (recursively) if missing. */
      mkdir?: boolean;
      timeout?: TimeoutOption;
    }
  }

  class Fuse {
    constructor(mnt: string, ops: Fuse.Operations, opts?: Fuse.Options);

    /** path.resolve(mnt) */
    readonly mnt: string;
    readonly opts: Fuse.Options;
    readonly ops: Fuse.Operations;

    /**
     * Mounts; the callback fires once the kernel INIT handshake reached JS. An instance is
     * single-use: after unmount, mount fails with "Resource is closed".
     */
    mount(cb: (err: Error | null) => void): void;
    /**
     * `fusermount -uz <mnt>` (lazy), then releases the native handle. If the mount is already
     * gone the error has `unmountFailure: true` and the process will not exit on its own.
     */
    unmount(cb: (err: (Error & { unmountFailure?: boolean }) | null) => void): void;
    /** `Fuse[code.toUpperCase()]` or -1. */
    errno(code: string): number;

    /**
     * PRIVATE in fuse-native: builds the `-o…` string ('' when there are no options) from the
     * whitelisted opts. Declared only so that mount-options.ts can override it.
     */
    _fuseOptions(): string;

    /** `fusermount -uz <mnt>` via exec. */
    static unmount(mnt: string, cb: (err: Error | null) => void): void;
    /** From fuse-shared-library (aimed at macOS); on Linux it only inspects a bundled script. */
    static isConfigured(cb: (err: Error | null, configured?: boolean) => void): void;
    static configure(cb?: (err: Error | null) => void): void;
    static unconfigure(cb?: (err: Error | null) => void): void;
    static beforeMount(cb?: (err: Error | null) => void): void;
    static beforeUnmount(cb?: (err: Error | null) => void): void;

    // Negative Linux errnos (the full list in index.js is longer; these are the ones we use).
    static readonly EPERM: number; // -1
    static readonly ENOENT: number; // -2
    static readonly EINTR: number; // -4
    static readonly EIO: number; // -5
    static readonly ENXIO: number; // -6
    static readonly EBADF: number; // -9
    static readonly EAGAIN: number; // -11
    static readonly EWOULDBLOCK: number; // -11
    static readonly ENOMEM: number; // -12
    static readonly EACCES: number; // -13
    static readonly EBUSY: number; // -16
    static readonly EEXIST: number; // -17
    static readonly EXDEV: number; // -18
    static readonly ENODEV: number; // -19
    static readonly ENOTDIR: number; // -20
    static readonly EISDIR: number; // -21
    static readonly EINVAL: number; // -22
    static readonly EMFILE: number; // -24
    static readonly ENOTTY: number; // -25
    static readonly EFBIG: number; // -27
    static readonly ENOSPC: number; // -28
    static readonly ESPIPE: number; // -29
    static readonly EROFS: number; // -30
    static readonly ERANGE: number; // -34
    static readonly ENAMETOOLONG: number; // -36
    static readonly ENOSYS: number; // -38
    static readonly ENOTEMPTY: number; // -39
    static readonly ENODATA: number; // -61
    static readonly EOVERFLOW: number; // -75
    /** There is no `Fuse.ENOTSUP` in fuse-native (undefined at runtime): use this (-95). */
    static readonly EOPNOTSUPP: number; // -95
    static readonly ENOTCONN: number; // -107
    static readonly ETOOMANYREFS: number; // -109
    static readonly ETIMEDOUT: number; // -110
    static readonly ESTALE: number; // -116
    static readonly EREMOTEIO: number; // -121
    static readonly EDQUOT: number; // -122
  }

  export = Fuse;
}
