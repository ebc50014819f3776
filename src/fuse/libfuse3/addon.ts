/**
 * The libfuse3 binding (native/fuse3/zonefuse_fuse3.c, built by native/fuse3/build.sh) and the
 * layout it shares with JS. Loading this module loads the addon.
 */
import { createRequire } from 'node:module';
import { NativePiece, nativeArtifact } from '../../native/artifacts.js';

export const FUSE3_PIECE: NativePiece = {
  name: 'fuse3', file: 'zonefuse_fuse3.node', usedFor: 'the libfuse3 backend', buildApt: ['libfuse3-dev'],
};

/** Requests (descriptor field D.OP). Keep in sync with enum zf_op in the C file. */
export const enum Op {
  LOOKUP = 1, GETATTR, SETATTR, OPEN, READ, WRITE, FLUSH, RELEASE, FSYNC, OPENDIR, READDIR, RELEASEDIR, STATFS,
}

/** Replies: reply(slot, kind, a, b). Keep in sync with enum zf_reply. */
export const enum Reply {
  ERR = 0, ENTRY, ATTR, OPEN, WRITE, BUF, STATFS,
}

/** Events that come with a batch. */
export const EVT_INIT = 1;
export const EVT_EXITED = 2;

/** Descriptor fields (doubles, per slot). Keep in sync with enum zf_desc. */
export const enum D {
  OP = 0, INO, FH, OFFSET, SIZE, FLAGS, DATA_OFF, DATA_LEN, ATTR_SIZE, PID, UID, GID,
  /** Reply fields start here: attr (ino mode nlink uid gid size blocks blksize atime mtime ctime) or statfs. */
  REPLY = 16,
}

/** Where libfuse puts a WRITE's payload in the request buffer: fuse_in_header + fuse_write_in. */
export const WRITE_DATA_OFFSET = 80;

/** <linux/fuse.h> FOPEN_* flags for the OPEN reply. */
export const FOPEN_DIRECT_IO = 1 << 0;
export const FOPEN_PARALLEL_DIRECT_WRITES = 1 << 6;

export interface Fuse3Session {
  /** Descriptors (nslots × descDoubles doubles), then the batch: nslots int32 slot indices. */
  readonly ctl: ArrayBuffer;
  /** One request buffer per slot, wrapped once. */
  readonly slots: ArrayBuffer[];
  readonly slotBytes: number;
  /** Answer the request in `slot`; 0, or -errno when the kernel no longer waits for it. */
  reply(slot: number, kind: Reply, a?: number, b?: number): number;
  /** Stop receiving, unmount, destroy the session (idempotent). */
  unmount(): void;
}

export interface Fuse3Addon {
  /**
   * Mount at `mountpoint` with fuse_session_new's `options` (after argv[0]); `dispatch(count,
   * events)` is called on the JS thread with `count` requests whose slot indices are in the batch.
   */
  mount(mountpoint: string, options: string[], nslots: number, dispatch: (count: number, events: number) => void): Fuse3Session;
  readonly fuseVersion: number;
  readonly descDoubles: number;
}

export function loadFuse3Addon(): Fuse3Addon {
  return createRequire(import.meta.url)(nativeArtifact(FUSE3_PIECE)) as Fuse3Addon;
}
