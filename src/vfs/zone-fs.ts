/**
 * The mounted tree, independent of any FUSE binding: path resolution, the handle table and the
 * public operations. Each node kind has its own module with its semantics:
 *
 *   /NAME              namespace file: device semantics (namespace-file.ts, PRODUCT.md §4)
 *   /NAME.zones/N      zone files: zonefs semantics (zone-file.ts, PRODUCT.md §5)
 *   /NAME.zones/{info,report,report.json,ctl,errors,faults}   control files (control-files.ts, §3)
 *   /NAME.zones/zones.bin   binary zone report, read live (zones-bin-file.ts, docs/zones-bin.md)
 *   /NAME.zones/changes.bin which zones changed since a generation (changes-bin-file.ts)
 *   /NAME.zones/events      the device's own zone changes, read live (events-file.ts, §10)
 *   /{ctl,info,errors} the subsystem's files (subsystem-files.ts)
 *
 * Buffered writers' partial LBAs are staged per zone (staging.ts). Every operation returns a
 * result or a negative errno and never throws for a refused request, nor for a failure of the
 * file system under the store (that is an errno, an `errors` line and a log line, §12).
 */
import { BackingStoreError, StoredNamespace } from '../store/stored-namespace.js';
import { Store } from '../store/store.js';
import { Logger } from '../log.js';
import { Attr, Owner } from './attr.js';
import { Handle, Node } from './node.js';
import { MountedNamespace } from './mounted-namespace.js';
import { RootDir, ZoneDir } from './directories.js';
import { NamespaceFile } from './namespace-file.js';
import { ZoneFile } from './zone-file.js';
import { CONTROL_FILES, ControlFile } from './control-files.js';
import { EVENTS_FILE, EventsFile } from './events-file.js';
import { ZONES_BIN, ZonesBinFile } from './zones-bin-file.js';
import { ChangesBinFile } from './changes-bin-file.js';
import { CHANGES_BIN } from '../format/changes-bin.js';
import { SUBSYSTEM_FILES, Subsystem, SubsystemFile } from './subsystem-files.js';
import { E, O_ACCMODE, O_APPEND, O_DIRECT, O_RDWR, O_WRONLY } from './errno.js';
import { HeldWrite } from './write-order.js';

export { Attr } from './attr.js';
export { Handle } from './node.js';
export { CONTROL_FILES } from './control-files.js';
export { SUBSYSTEM_FILES } from './subsystem-files.js';

/** submitWrite's answer for a write that was held: its result comes through `done` later. */
export const WRITE_HELD = Number.MIN_SAFE_INTEGER;

function canonicalIndex(s: string): number {
  return /^(0|[1-9][0-9]{0,9})$/.test(s) ? Number(s) : -1;
}

export class ZoneFs {
  private readonly byName = new Map<string, MountedNamespace>();
  private readonly byPath = new Map<string, Node>();
  private readonly handles = new Map<number, Handle>();
  private nextHandle = 1;
  private readonly owner: Owner = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0, mountTime: Date.now() };
  private readonly root: RootDir;

  constructor(readonly store: Store, private readonly log: Logger) {
    this.root = new RootDir(this.owner, this.byName);
    for (const ns of store.attached()) this.attach(ns);
    const subsystem = new Subsystem(store, {
      attach: (ns) => this.attach(ns),
      remove: (name) => this.unmountNamespace(name),
      openHandles: (name) => this.openHandles(name),
    }, log);
    for (const name of SUBSYSTEM_FILES) this.byPath.set('/' + name, new SubsystemFile(this.owner, subsystem, name));
  }

  private attach(ns: StoredNamespace): void {
    const m = new MountedNamespace(ns.name, ns, this.owner.mountTime, this.log, (w: HeldWrite) => this.writeNow(w.fh, w.buf, w.len, w.pos));
    this.byName.set(ns.name, m);
    this.byPath.set('/' + ns.name, new NamespaceFile(this.owner, m));
    if (ns.engine.zoned) {
      this.byPath.set('/' + m.zonesDir, new ZoneDir(this.owner, m));
      for (const c of CONTROL_FILES) this.byPath.set(`/${m.zonesDir}/${c}`, new ControlFile(this.owner, m, c));
      this.byPath.set(`/${m.zonesDir}/${ZONES_BIN}`, new ZonesBinFile(this.owner, m));
      this.byPath.set(`/${m.zonesDir}/${CHANGES_BIN}`, new ChangesBinFile(this.owner, m));
      this.byPath.set(`/${m.zonesDir}/${EVENTS_FILE}`, new EventsFile(this.owner, m));
    }
  }

  /** Take a namespace out of the tree; its open handles fail with EIO from now on. */
  private unmountNamespace(name: string): void {
    const m = this.byName.get(name);
    if (!m) return;
    m.plugs.settle();
    m.gone = true;
    m.stages.clear();
    this.byName.delete(name);
    this.byPath.delete('/' + name);
    this.byPath.delete('/' + m.zonesDir);
    for (const c of CONTROL_FILES) this.byPath.delete(`/${m.zonesDir}/${c}`);
    this.byPath.delete(`/${m.zonesDir}/${ZONES_BIN}`);
    this.byPath.delete(`/${m.zonesDir}/${CHANGES_BIN}`);
    this.byPath.delete(`/${m.zonesDir}/${EVENTS_FILE}`);
  }

  /** Handles open on a namespace (its file, zone files or control files). */
  private openHandles(name: string): number {
    let n = 0;
    for (const h of this.handles.values()) {
      const m = h.node.m;
      if (m && m.name === name && !m.gone) n++;
    }
    return n;
  }

  namespaces(): StoredNamespace[] {
    return [...this.byName.values()].map((m) => m.ns);
  }

  // ---------------------------------------------------------------------------------------------
  // Lookup and attributes

  private resolve(path: string): Node | undefined {
    if (path === '/') return this.root;
    const n = this.byPath.get(path);
    if (n) return n;
    // Zone files: /NAME.zones/INDEX with a canonical decimal index.
    const slash = path.lastIndexOf('/');
    if (slash <= 0) return undefined;
    const dir = this.byPath.get(path.slice(0, slash));
    if (!(dir instanceof ZoneDir)) return undefined;
    const z = canonicalIndex(path.slice(slash + 1));
    if (z < 0 || z >= dir.m.ns.engine.nrZones) return undefined;
    return new ZoneFile(this.owner, dir.m, z);
  }

  getattr(path: string): Attr | number {
    const node = this.resolve(path);
    return node ? this.attrOf(node) : -E.ENOENT;
  }

  fgetattr(fh: number): Attr | number {
    const h = this.handles.get(fh);
    return h ? this.attrOf(h.node, h) : -E.EBADF;
  }

  private attrOf(node: Node, h?: Handle): Attr | number {
    try {
      return node.attr(h);
    } catch (e) {
      return this.failed(node, e);
    }
  }

  /**
   * An operation on `node` failed in the file system under the store: its namespace's `errors`
   * file and the log get one line each, the caller the errno (or the bytes a write stored first).
   * Anything else is a bug and is thrown on.
   */
  private failed(node: Node | undefined, e: unknown): number {
    if (node?.m) return node.m.failed(e);
    if (!(e instanceof BackingStoreError)) throw e;
    this.log.error({ file: e.file, op: e.op, errno: e.code }, e.message);
    return -e.errno;
  }

  readdir(path: string): string[] | number {
    const node = this.resolve(path);
    return node ? node.readdir() : -E.ENOENT;
  }

  statfs(): { bsize: number; frsize: number; blocks: number; bfree: number; bavail: number; files: number; ffree: number; namemax: number } {
    let blocks = 0;
    let used = 0;
    for (const m of this.byName.values()) {
      blocks += m.ns.capacity / 4096;
      used += Math.ceil(m.ns.allocatedBytes() / 4096);
    }
    return { bsize: 4096, frsize: 4096, blocks, bfree: blocks - used, bavail: blocks - used, files: 0, ffree: 0, namemax: 255 };
  }

  // ---------------------------------------------------------------------------------------------
  // Open / release

  open(path: string, flags: number): number {
    const node = this.resolve(path);
    if (!node) return -E.ENOENT;
    const acc = flags & O_ACCMODE;
    const h: Handle = {
      id: this.nextHandle, node,
      writable: acc === O_WRONLY || acc === O_RDWR,
      readable: acc !== O_WRONLY,
      generation: node.m ? node.m.generation : 0,
      direct: (flags & O_DIRECT) !== 0,
      append: (flags & O_APPEND) !== 0,
    };
    const r = node.open(h);
    if (r < 0) return r;
    this.nextHandle++;
    if (this.nextHandle > 0x7fffffff) this.nextHandle = 1;
    this.handles.set(h.id, h);
    return h.id;
  }

  /** Last close of a handle: commit what it staged (errors can only be logged here). */
  release(fh: number): number {
    const h = this.handles.get(fh);
    if (!h) return 0;
    this.settleFor(h);
    let r: number;
    try {
      r = this.commitStages(h);
    } catch (e) {
      r = this.failed(h.node, e);
    }
    this.handles.delete(fh);
    return r < 0 ? r : 0;
  }

  /** close(2) of a descriptor: commit staged partial LBAs; the error is close()'s. */
  flush(fh: number): number {
    const h = this.handles.get(fh);
    if (!h) return 0;
    this.settleFor(h);
    try {
      return this.commitStages(h);
    } catch (e) {
      return this.failed(h.node, e);
    }
  }

  fsync(fh: number): number {
    const h = this.handles.get(fh);
    if (!h) return -E.EBADF;
    if (this.stale(h)) return -E.EIO;
    this.settleFor(h);
    try {
      const r = this.commitStages(h);
      if (r < 0) return r;
      h.node.m?.ns.flush();
    } catch (e) {
      return this.failed(h.node, e);
    }
    return 0;
  }

  /** A data handle opened before a power cycle: the device it was talking to went away. */
  private stale(h: Handle): boolean {
    const n = h.node;
    const m = n.m;
    if (!n.holdsData || !m) return false;
    if (m.gone) return true;
    if (h.generation === m.generation) return false;
    m.errors.add(`I/O on a file opened before the last power cycle of ${m.name}: reopen it errno=EIO`);
    return true;
  }

  /** Commit every stage handle h wrote to; returns the first error. */
  private commitStages(h: Handle): number {
    const n = h.node;
    return n.holdsData && n.m ? n.m.stages.commitFor(h) : 0;
  }

  // ---------------------------------------------------------------------------------------------
  // Data

  read(fh: number, buf: Buffer, len: number, pos: number): number {
    const h = this.handles.get(fh);
    if (!h) return -E.EBADF;
    if (this.stale(h)) return -E.EIO;
    try {
      return h.node.read(h, buf, len, pos);
    } catch (e) {
      return this.failed(h.node, e);
    }
  }

  /**
   * A write that may be held (PRODUCT.md §9, write-order.ts): a direct write to a namespace file
   * that lands ahead of its zone's write pointer waits for the requests that can fill the gap.
   * Returns bytes or -errno now, or WRITE_HELD, and then done(token, bytes or -errno) is called
   * once, later. `buf` must stay valid until then.
   */
  submitWrite<T>(fh: number, buf: Buffer, len: number, pos: number, done: (token: T, result: number) => void, token: T): number {
    const h = this.handles.get(fh);
    const node = h?.node;
    if (h && h.direct && h.writable && node instanceof NamespaceFile && !this.stale(h) && node.m.plugs.shouldHold(pos, len)) {
      const ns = node.m.ns;
      const lba = pos / ns.lbaSize;
      node.m.plugs.hold({ fh, buf, len, pos, lba, zone: ns.engine.zoneOf(lba), done: done as HeldWrite['done'], token, since: Date.now() });
      return WRITE_HELD;
    }
    return this.write(fh, buf, len, pos);
  }

  /** A write that runs now; held writes it makes contiguous run right after it. */
  write(fh: number, buf: Buffer, len: number, pos: number): number {
    const r = this.writeNow(fh, buf, len, pos);
    if (r > 0) {
      const m = this.handles.get(fh)?.node.m;
      if (m && m.plugs.held > 0) m.plugs.advance();
    }
    return r;
  }

  private writeNow(fh: number, buf: Buffer, len: number, pos: number): number {
    const h = this.handles.get(fh);
    if (!h) return -E.EBADF;
    if (!h.writable) return -E.EBADF;
    if (this.stale(h)) return -E.EIO;
    if (len === 0) return 0;
    // Commands (ctl) see the device as it is: no write is held across them.
    if (!h.node.holdsData) this.settleAll(h.node.m);
    try {
      return h.node.write(h, buf, len, pos);
    } catch (e) {
      return this.failed(h.node, e);
    }
  }

  /** Before a flush, fsync or close of a data handle: run the namespace's held writes. */
  private settleFor(h: Handle): void {
    if (h.node.holdsData) h.node.m?.plugs.settle();
  }

  /** One namespace's held writes, or (top-level files) every namespace's. */
  private settleAll(m: MountedNamespace | undefined): void {
    if (m) m.plugs.settle();
    else for (const n of this.byName.values()) n.plugs.settle();
  }

  truncate(path: string, size: number): number {
    const node = this.resolve(path);
    return node ? this.truncateNode(node, size) : -E.ENOENT;
  }

  ftruncate(fh: number, size: number): number {
    const h = this.handles.get(fh);
    return h ? this.truncateNode(h.node, size, h) : -E.EBADF;
  }

  private truncateNode(node: Node, size: number, h?: Handle): number {
    // A reset or finish sees the zone as it is: no write is held across it.
    node.m?.plugs.settle();
    try {
      return node.truncate(size, h);
    } catch (e) {
      return this.failed(node, e);
    }
  }

  /** Run every held write and commit everything staged (used at unmount). */
  commitAll(): void {
    this.settleAll(undefined);
    for (const h of this.handles.values()) {
      try {
        this.commitStages(h);
      } catch (e) {
        this.failed(h.node, e);
      }
    }
  }
}
