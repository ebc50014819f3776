/**
 * Serving a ZoneFs through zonefuse's libfuse3 binding (libfuse 3's low-level API).
 *
 * The low-level API names files by inode; ZoneFs by path. The adapter gives every path it has
 * named to the kernel a stable inode number (the tree is small and fixed: namespaces, zone
 * files, control files), so the kernel's FORGETs need no bookkeeping. Requests arrive in batches
 * (addon.ts) and are answered from the same request buffer: write payloads and lookup names are
 * read in place, read data is produced in place, and nothing is allocated per read or write.
 *
 * Every request is answered, whatever its handler does: an exception becomes EIO (logged), an
 * unknown request ENOSYS. Each open gets FOPEN_DIRECT_IO (no page cache: every write reaches the
 * engine, reads see the write pointer's state) and FOPEN_PARALLEL_DIRECT_WRITES (writers on
 * different zones of one namespace file run in parallel; the kernel still serialises writes
 * that extend a file, such as zone-file appends).
 */
import * as path from 'node:path';
import { constants as osConstants } from 'node:os';
import { WRITE_HELD, type ZoneFs } from '../../vfs/zone-fs.js';
import type { Attr } from '../../vfs/attr.js';
import type { Logger } from '../../log.js';
import type { BackendMountOptions, FuseBackend, MountHandle } from '../backend.js';
import { FSNAME_PREFIX, findMount } from '../mounts.js';
import { prepareMountpoint } from '../mountpoint.js';
import { startUnmountGuard } from '../unmount-guard.js';
import {
  D, EVT_EXITED, EVT_INIT, FOPEN_DIRECT_IO, FOPEN_PARALLEL_DIRECT_WRITES, Fuse3Session, Op, Reply, WRITE_DATA_OFFSET,
  loadFuse3Addon,
} from './addon.js';

const E = osConstants.errno;
const ROOT_INO = 1;

/** Request buffers (1 MiB + 4 KiB each, touched only when used): more than the kernel's 64
 * background requests plus the synchronous ones of many processes. */
const SLOTS = 128;
const INIT_TIMEOUT_MS = 15_000;

/** FUSE_SET_ATTR_* */
const SET_MODE = 1 << 0;
const SET_UID = 1 << 1;
const SET_GID = 1 << 2;
const SET_SIZE = 1 << 3;

/** Paths the kernel knows, by inode number, and back. */
class InodeTable {
  private readonly paths: string[] = ['', '/'];
  private readonly ids = new Map<string, number>([['/', ROOT_INO]]);

  id(p: string): number {
    let ino = this.ids.get(p);
    if (ino === undefined) {
      ino = this.paths.length;
      this.paths.push(p);
      this.ids.set(p, ino);
    }
    return ino;
  }

  path(ino: number): string | undefined {
    return this.paths[ino];
  }
}

const childPath = (dir: string, name: string): string => (dir === '/' ? '/' + name : dir + '/' + name);

/** A directory listing taken at opendir, so that readdir's offsets stay valid. */
interface DirHandle {
  path: string;
  names: string[];
}

class Libfuse3Mount {
  private readonly inodes = new InodeTable();
  private readonly dirs = new Map<number, DirHandle>();
  private nextDir = 1;
  private session!: Fuse3Session;
  private desc!: Float64Array;
  private batch!: Int32Array;
  /** Per slot: a view of the whole buffer (read replies, names) and of a WRITE's payload. */
  private bufs: Buffer[] = [];
  private writeViews: Buffer[] = [];
  private stride = 0;
  private onInit: (() => void) | undefined;
  exitedByItself = false;

  constructor(private readonly zfs: ZoneFs, private readonly log: Logger) {}

  start(mnt: string, options: string[]): Promise<void> {
    const addon = loadFuse3Addon();
    this.stride = addon.descDoubles;
    const initialised = new Promise<void>((resolve) => (this.onInit = resolve));
    this.session = addon.mount(mnt, options, SLOTS, (count, events) => this.dispatch(count, events));
    this.desc = new Float64Array(this.session.ctl, 0, SLOTS * this.stride);
    this.batch = new Int32Array(this.session.ctl, SLOTS * this.stride * 8, SLOTS);
    for (const ab of this.session.slots) {
      this.bufs.push(Buffer.from(ab));
      this.writeViews.push(Buffer.from(ab, WRITE_DATA_OFFSET));
    }
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`the kernel did not start the FUSE session at ${mnt} within ${INIT_TIMEOUT_MS / 1000} s`)), INIT_TIMEOUT_MS);
    });
    return Promise.race([initialised, timeout]).finally(() => clearTimeout(timer));
  }

  unmount(): void {
    this.session.unmount();
  }

  private dispatch(count: number, events: number): void {
    if (events & EVT_INIT) this.onInit?.();
    const batch = this.batch;
    for (let i = 0; i < count; i++) {
      const slot = batch[i]!;
      try {
        this.serve(slot);
      } catch (e) {
        this.log.error({ err: e, op: this.desc[slot * this.stride + D.OP] }, 'internal error in a FUSE request; answering EIO');
        this.session.reply(slot, Reply.ERR, E.EIO);
      }
    }
    if (events & EVT_EXITED) {
      this.exitedByItself = true;
      this.log.warn('the FUSE session ended (unmounted from outside, or the connection was aborted)');
    }
  }

  private readonly writeDone = (slot: number, r: number): void => {
    if (r < 0) this.err(slot, r);
    else this.session.reply(slot, Reply.WRITE, r);
  };

  private err(slot: number, r: number): void {
    this.session.reply(slot, Reply.ERR, r < 0 ? -r : 0);
  }

  private serve(slot: number): void {
    const d = this.desc;
    const at = slot * this.stride;
    const op = d[at + D.OP]!;
    const zfs = this.zfs;
    switch (op) {
      case Op.READ: {
        const r = zfs.read(d[at + D.FH]!, this.bufs[slot]!, d[at + D.SIZE]!, d[at + D.OFFSET]!);
        if (r < 0) this.err(slot, r);
        else this.session.reply(slot, Reply.BUF, r, 0);
        return;
      }
      case Op.WRITE: {
        const off = d[at + D.DATA_OFF]!;
        const len = d[at + D.SIZE]!;
        const buf = off === WRITE_DATA_OFFSET ? this.writeViews[slot]! : this.bufs[slot]!.subarray(off, off + len);
        // A write ahead of its zone's write pointer may be held: its slot stays busy until then.
        const r = zfs.submitWrite(d[at + D.FH]!, buf, len, d[at + D.OFFSET]!, this.writeDone, slot);
        if (r !== WRITE_HELD) this.writeDone(slot, r);
        return;
      }
      case Op.LOOKUP: {
        const parent = this.inodes.path(d[at + D.INO]!);
        if (parent === undefined) return this.err(slot, -E.ENOENT);
        const off = d[at + D.DATA_OFF]!;
        const name = this.bufs[slot]!.toString('utf8', off, off + d[at + D.DATA_LEN]!);
        const p = childPath(parent, name);
        const a = zfs.getattr(p);
        if (typeof a === 'number') return this.err(slot, a);
        this.putAttr(at, this.inodes.id(p), a);
        this.session.reply(slot, Reply.ENTRY);
        return;
      }
      case Op.GETATTR: {
        const ino = d[at + D.INO]!;
        const fh = d[at + D.FH]!;
        const p = this.inodes.path(ino);
        const a = fh > 0 ? zfs.fgetattr(fh) : p === undefined ? -E.ENOENT : zfs.getattr(p);
        return this.replyAttr(slot, at, ino, a);
      }
      case Op.SETATTR:
        return this.setattr(slot, at);
      case Op.OPEN: {
        const p = this.inodes.path(d[at + D.INO]!);
        if (p === undefined) return this.err(slot, -E.ENOENT);
        const fh = zfs.open(p, d[at + D.FLAGS]!);
        if (fh < 0) return this.err(slot, fh);
        // The opener was interrupted and no longer waits: forget the handle.
        if (this.session.reply(slot, Reply.OPEN, fh, FOPEN_DIRECT_IO | FOPEN_PARALLEL_DIRECT_WRITES) < 0) zfs.release(fh);
        return;
      }
      case Op.FLUSH:
        return this.err(slot, zfs.flush(d[at + D.FH]!));
      case Op.RELEASE:
        return this.err(slot, zfs.release(d[at + D.FH]!));
      case Op.FSYNC:
        return this.err(slot, zfs.fsync(d[at + D.FH]!));
      case Op.OPENDIR: {
        const p = this.inodes.path(d[at + D.INO]!);
        if (p === undefined) return this.err(slot, -E.ENOENT);
        const names = zfs.readdir(p);
        if (typeof names === 'number') return this.err(slot, names);
        const id = this.nextDir++;
        this.dirs.set(id, { path: p, names: ['.', '..', ...names] });
        if (this.session.reply(slot, Reply.OPEN, id, 0) < 0) this.dirs.delete(id);
        return;
      }
      case Op.READDIR:
        return this.readdir(slot, at);
      case Op.RELEASEDIR:
        this.dirs.delete(d[at + D.FH]!);
        return this.err(slot, 0);
      case Op.STATFS: {
        const s = zfs.statfs();
        const r = at + D.REPLY;
        d[r] = s.bsize;
        d[r + 1] = s.frsize;
        d[r + 2] = s.blocks;
        d[r + 3] = s.bfree;
        d[r + 4] = s.bavail;
        d[r + 5] = s.files;
        d[r + 6] = s.ffree;
        d[r + 7] = s.namemax;
        this.session.reply(slot, Reply.STATFS);
        return;
      }
      default:
        return this.err(slot, -E.ENOSYS);
    }
  }

  private putAttr(at: number, ino: number, a: Attr): void {
    const d = this.desc;
    const r = at + D.REPLY;
    d[r] = ino;
    d[r + 1] = a.mode;
    d[r + 2] = a.nlink;
    d[r + 3] = a.uid;
    d[r + 4] = a.gid;
    d[r + 5] = a.size;
    d[r + 6] = a.blocks;
    d[r + 7] = a.blksize;
    d[r + 8] = a.atime;
    d[r + 9] = a.mtime;
    d[r + 10] = a.ctime;
  }

  private replyAttr(slot: number, at: number, ino: number, a: Attr | number): void {
    if (typeof a === 'number') return this.err(slot, a);
    this.putAttr(at, ino, a);
    this.session.reply(slot, Reply.ATTR);
  }

  /** As libfuse 2's high-level API does it: mode, owner, size, then times; the new attributes. */
  private setattr(slot: number, at: number): void {
    const d = this.desc;
    const ino = d[at + D.INO]!;
    const fh = d[at + D.FH]!;
    const toSet = d[at + D.FLAGS]!;
    const p = this.inodes.path(ino);
    if (p === undefined) return this.err(slot, -E.ENOENT);
    // The tree's permissions and owners are fixed (zonefs: EPERM).
    if (toSet & (SET_MODE | SET_UID | SET_GID)) return this.err(slot, -E.EPERM);
    if (toSet & SET_SIZE) {
      const size = d[at + D.ATTR_SIZE]!;
      const r = fh > 0 ? this.zfs.ftruncate(fh, size) : this.zfs.truncate(p, size);
      if (r < 0) return this.err(slot, r);
    }
    // Timestamps follow writes; touch(1) must still succeed on existing files.
    this.replyAttr(slot, at, ino, fh > 0 ? this.zfs.fgetattr(fh) : this.zfs.getattr(p));
  }

  /** struct fuse_dirent entries (ino, next offset, name length, type, name padded to 8). */
  private readdir(slot: number, at: number): void {
    const d = this.desc;
    const dir = this.dirs.get(d[at + D.FH]!);
    if (!dir) return this.err(slot, -E.EBADF);
    const size = d[at + D.SIZE]!;
    const buf = this.bufs[slot]!;
    let used = 0;
    for (let i = d[at + D.OFFSET]!; i < dir.names.length; i++) {
      const name = dir.names[i]!;
      const nameLen = Buffer.byteLength(name);
      const entLen = (24 + nameLen + 7) & ~7;
      if (used + entLen > size) break;
      const ino = name === '.' ? this.inodes.id(dir.path)
        : name === '..' ? this.inodes.id(path.posix.dirname(dir.path))
          : this.inodes.id(childPath(dir.path, name));
      buf.writeUInt32LE(ino, used);
      buf.writeUInt32LE(0, used + 4);
      buf.writeUInt32LE(i + 1, used + 8);
      buf.writeUInt32LE(0, used + 12);
      buf.writeUInt32LE(nameLen, used + 16);
      buf.writeUInt32LE(0, used + 20); // DT_UNKNOWN: readers stat what they need
      buf.write(name, used + 24, 'utf8');
      buf.fill(0, used + 24 + nameLen, used + entLen);
      used += entLen;
    }
    this.session.reply(slot, Reply.BUF, used, 0);
  }
}

/** Mount a ZoneFs at `mnt` through libfuse3 and resolve once the kernel's INIT is answered. */
async function mount(zfs: ZoneFs, mnt: string, storeDir: string, log: Logger, opts: BackendMountOptions = {}): Promise<MountHandle> {
  const abs = path.resolve(mnt);
  if (storeDir.includes(',')) throw new Error(`store path ${storeDir} contains a comma, which FUSE option strings cannot carry`);
  prepareMountpoint(abs, log);
  if (opts.autoUnmount ?? true) startUnmountGuard(abs);
  const o = [`fsname=${FSNAME_PREFIX}${path.resolve(storeDir)}`, 'subtype=zonefuse'];
  // fusermount3's helper removes the mount within a second if the daemon dies (kill -9).
  if (opts.autoUnmount ?? true) o.push('auto_unmount');
  // Others in only with allow_other, and then the kernel enforces the modes (backend.ts).
  if (opts.allowOther) o.push('allow_other', 'default_permissions');
  const m = new Libfuse3Mount(zfs, log);
  try {
    await m.start(abs, ['-o', o.join(',')]);
  } catch (e) {
    try {
      m.unmount();
    } catch {
      // never mounted
    }
    throw e;
  }
  let mounted = true;
  return {
    mountpoint: abs,
    backend: 'libfuse3',
    async unmount(): Promise<void> {
      if (!mounted) return;
      mounted = false;
      if (!m.exitedByItself && !findMount(abs)) log.warn(`${abs} was unmounted from outside`);
      m.unmount();
    },
  };
}

export const libfuse3Backend: FuseBackend = { name: 'libfuse3', mount };
