/**
 * The mounted tree and its file semantics, independent of any FUSE binding:
 *
 *   /NAME              namespace file: device semantics (PRODUCT.md §4)
 *   /NAME.zones/N      zone files: zonefs semantics (PRODUCT.md §5)
 *   /NAME.zones/{info,report,ctl,errors}   control files (PRODUCT.md §3)
 *
 * Every operation returns a result or a negative errno and never throws for a refused request.
 * Buffered (non-O_DIRECT) writers get page-cache rules: a trailing partial LBA is staged per
 * zone and committed, zero-padded, at flush/fsync/close of a handle that wrote to it.
 */
import { constants as osConstants } from 'node:os';
import { constants as fsConstants } from 'node:fs';
import { Rejection, Status, ERRNO } from '../engine/status.js';
import { ZoneState } from '../engine/zone.js';
import { StoredNamespace } from '../store/stored-namespace.js';
import { Store, StoreError } from '../store/store.js';
import { FormatError } from '../store/format.js';
import { GeometryError } from '../engine/geometry.js';
import { SubsystemCommand, parseSubsystemCommand } from '../control/subsystem.js';
import { Logger } from '../log.js';
import { ErrorLog } from './error-log.js';
import { reportBuffer } from '../format/report.js';
import { deviceInfo, formatInfo, formatSubsystemInfo, namespaceInfo } from '../format/info.js';
import { ControlCommand, CommandSyntaxError, commandLines, executeCommand, formatCommand, parseCommand } from '../control/commands.js';

const E = osConstants.errno;
const O_ACCMODE = 3;
const O_WRONLY = 1;
const O_RDWR = 2;
const O_APPEND = fsConstants.O_APPEND;
const O_DIRECT = fsConstants.O_DIRECT;

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;

export const CONTROL_FILES = ['info', 'report', 'report.json', 'ctl', 'errors', 'faults'] as const;
type ControlName = (typeof CONTROL_FILES)[number];
/** Top-level (subsystem) control files. */
export const SUBSYSTEM_FILES = ['ctl', 'info', 'errors'] as const;
type SubsystemName = (typeof SUBSYSTEM_FILES)[number];

export interface Attr {
  mode: number;
  size: number;
  blocks: number;
  blksize: number;
  nlink: number;
  uid: number;
  gid: number;
  mtime: number;
  atime: number;
  ctime: number;
}

/** Uncommitted bytes of a partial LBA written by buffered writers to a sequential zone. */
interface Stage {
  zone: number;
  /** Absolute byte offset of the LBA being filled. */
  start: number;
  len: number;
  buf: Buffer;
  writers: Set<Handle>;
}

/** Per-namespace mount state. */
class MountedNamespace {
  readonly errors = new ErrorLog();
  readonly zoneMtime: Float64Array;
  mtime: number;
  readonly stages = new Map<number, Stage>();
  /** st_blocks of conventional zone files, computed on demand, dropped on write. */
  readonly convBlocks = new Map<number, number>();
  /** Bumped by a power cycle: handles opened before it fail with EIO, like a device that went away. */
  generation = 0;
  /** Detached or deleted: every handle still open on it fails with EIO. */
  gone = false;

  constructor(readonly name: string, readonly ns: StoredNamespace, now: number) {
    this.zoneMtime = new Float64Array(ns.engine.nrZones).fill(now);
    this.mtime = now;
  }

  get zonesDir(): string {
    return this.name + '.zones';
  }

  touch(zone: number, now = Date.now()): void {
    this.mtime = now;
    if (zone >= 0) this.zoneMtime[zone] = now;
  }
}

type Node =
  | { kind: 'root' }
  | { kind: 'nsfile'; m: MountedNamespace }
  | { kind: 'zonedir'; m: MountedNamespace }
  | { kind: 'zone'; m: MountedNamespace; zone: number }
  | { kind: 'control'; m: MountedNamespace; name: ControlName }
  | { kind: 'subsys'; name: SubsystemName };

export interface Handle {
  readonly id: number;
  readonly node: Node;
  /** The namespace's power-cycle generation when the handle was opened. */
  readonly generation: number;
  readonly direct: boolean;
  readonly append: boolean;
  readonly writable: boolean;
  readonly readable: boolean;
  /** Control files: content captured at open, so a reader sees one consistent snapshot. */
  content?: Buffer;
}

function canonicalIndex(s: string): number {
  return /^(0|[1-9][0-9]{0,9})$/.test(s) ? Number(s) : -1;
}

export class ZoneFs {
  private readonly byName = new Map<string, MountedNamespace>();
  private readonly byPath = new Map<string, Node>();
  private readonly handles = new Map<number, Handle>();
  private nextHandle = 1;
  private readonly mountTime = Date.now();
  private readonly uid = process.getuid?.() ?? 0;
  private readonly gid = process.getgid?.() ?? 0;
  private readonly debug: boolean;
  /** Refused subsystem commands (the top-level `errors` file). */
  private readonly subsysErrors = new ErrorLog();

  constructor(readonly store: Store, private readonly log: Logger) {
    for (const ns of store.attached()) this.attach(ns);
    for (const name of SUBSYSTEM_FILES) this.byPath.set('/' + name, { kind: 'subsys', name });
    this.debug = log.isLevelEnabled('debug');
  }

  private attach(ns: StoredNamespace): void {
    const m = new MountedNamespace(ns.name, ns, this.mountTime);
    this.byName.set(ns.name, m);
    this.byPath.set('/' + ns.name, { kind: 'nsfile', m });
    if (ns.engine.zoned) {
      this.byPath.set('/' + m.zonesDir, { kind: 'zonedir', m });
      for (const c of CONTROL_FILES) this.byPath.set(`/${m.zonesDir}/${c}`, { kind: 'control', m, name: c });
    }
  }

  /** Take a namespace out of the tree; its open handles fail with EIO from now on. */
  private unmountNamespace(name: string): void {
    const m = this.byName.get(name);
    if (!m) return;
    m.gone = true;
    m.stages.clear();
    this.byName.delete(name);
    this.byPath.delete('/' + name);
    this.byPath.delete('/' + m.zonesDir);
    for (const c of CONTROL_FILES) this.byPath.delete(`/${m.zonesDir}/${c}`);
  }

  /** Handles open on a namespace (its file, zone files or control files). */
  private openHandles(name: string): number {
    let n = 0;
    for (const h of this.handles.values()) if ('m' in h.node && h.node.m.name === name && !h.node.m.gone) n++;
    return n;
  }

  namespaces(): StoredNamespace[] {
    return [...this.byName.values()].map((m) => m.ns);
  }

  // ---------------------------------------------------------------------------------------------
  // Lookup and attributes

  private resolve(path: string): Node | undefined {
    if (path === '/') return { kind: 'root' };
    const n = this.byPath.get(path);
    if (n) return n;
    // Zone files: /NAME.zones/INDEX with a canonical decimal index.
    const slash = path.lastIndexOf('/');
    if (slash <= 0) return undefined;
    const dir = this.byPath.get(path.slice(0, slash));
    if (!dir || dir.kind !== 'zonedir') return undefined;
    const z = canonicalIndex(path.slice(slash + 1));
    if (z < 0 || z >= dir.m.ns.engine.nrZones) return undefined;
    return { kind: 'zone', m: dir.m, zone: z };
  }

  private dirAttr(entries: number, mode: number): Attr {
    const t = this.mountTime;
    return { mode: S_IFDIR | mode, size: entries, blocks: 0, blksize: 4096, nlink: 2, uid: this.uid, gid: this.gid, mtime: t, atime: t, ctime: t };
  }

  getattr(path: string): Attr | number {
    const node = this.resolve(path);
    if (!node) return -E.ENOENT;
    return this.attrOf(node);
  }

  fgetattr(fh: number): Attr | number {
    const h = this.handles.get(fh);
    return h ? this.attrOf(h.node) : -E.EBADF;
  }

  private attrOf(node: Node): Attr {
    switch (node.kind) {
      case 'root':
        return this.dirAttr(2 + this.byName.size, 0o755);
      case 'zonedir':
        return this.dirAttr(2, 0o555);
      case 'nsfile': {
        const { m } = node;
        const ns = m.ns;
        return this.fileAttr(0o644, ns.capacity, ns.allocatedBytes(), ns.lbaSize, m.mtime);
      }
      case 'zone':
        return this.zoneAttr(node.m, node.zone);
      case 'control': {
        const mode = node.name === 'ctl' ? 0o200 : 0o444;
        // Generated on read, like procfs: the size is not known in advance.
        return this.fileAttr(mode, 0, 0, 4096, node.m.mtime);
      }
      case 'subsys':
        return this.fileAttr(node.name === 'ctl' ? 0o200 : 0o444, 0, 0, 4096, this.mountTime);
    }
  }

  private fileAttr(perm: number, size: number, bytes: number, blksize: number, mtime: number): Attr {
    return {
      mode: S_IFREG | perm, size, blocks: Math.ceil(bytes / 512), blksize, nlink: 1,
      uid: this.uid, gid: this.gid, mtime, atime: mtime, ctime: mtime,
    };
  }

  /** Zone file size: write pointer offset (plus staged bytes), capacity when Full. */
  private zoneSize(m: MountedNamespace, z: number): number {
    const e = m.ns.engine;
    if (e.isConventional(z)) return m.ns.zoneBytes;
    const s = e.stateOf(z);
    if (s === ZoneState.OFFLINE) return 0;
    if (s === ZoneState.FULL) return e.capLbas * e.lbaSize;
    const committed = e.dataLbas(z) * e.lbaSize;
    const st = m.stages.get(z);
    return st ? st.start + st.len - z * m.ns.zoneBytes : committed;
  }

  private zoneAttr(m: MountedNamespace, z: number): Attr {
    const e = m.ns.engine;
    const s = e.stateOf(z);
    let bytes: number;
    if (e.isConventional(z)) {
      let cached = m.convBlocks.get(z);
      if (cached === undefined) {
        const start = z * m.ns.zoneBytes;
        cached = 0;
        for (const [a, b] of m.ns.allocatedRanges(start, start + m.ns.zoneBytes)) cached += b - a;
        m.convBlocks.set(z, cached);
      }
      bytes = cached;
    } else {
      bytes = e.dataLbas(z) * e.lbaSize;
    }
    const perm = s === ZoneState.OFFLINE ? 0 : s === ZoneState.READ_ONLY ? 0o444 : 0o644;
    return this.fileAttr(perm, this.zoneSize(m, z), bytes, e.lbaSize, m.zoneMtime[z]!);
  }

  readdir(path: string): string[] | number {
    const node = this.resolve(path);
    if (!node) return -E.ENOENT;
    if (node.kind === 'root') {
      const names: string[] = [];
      for (const m of this.byName.values()) {
        names.push(m.name);
        if (m.ns.engine.zoned) names.push(m.zonesDir);
      }
      names.push(...SUBSYSTEM_FILES);
      return names;
    }
    if (node.kind === 'zonedir') {
      const n = node.m.ns.engine.nrZones;
      const names = new Array<string>(n);
      for (let z = 0; z < n; z++) names[z] = String(z);
      names.push(...CONTROL_FILES);
      return names;
    }
    return -E.ENOTDIR;
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
    if (node.kind === 'root' || node.kind === 'zonedir') return -E.EISDIR;
    const acc = flags & O_ACCMODE;
    const writable = acc === O_WRONLY || acc === O_RDWR;
    const readable = acc !== O_WRONLY;
    if (node.kind === 'zone') {
      const s = node.m.ns.engine.stateOf(node.zone);
      if (writable && (s === ZoneState.READ_ONLY || s === ZoneState.OFFLINE)) {
        this.refuse(node.m, `open zone ${node.zone} for writing: the zone is ${s === ZoneState.OFFLINE ? 'offline' : 'read only'}`);
        return -E.EPERM;
      }
    }
    let content: Buffer | undefined;
    if (node.kind === 'control' || node.kind === 'subsys') {
      if (node.name === 'ctl') {
        if (readable) return -E.EACCES;
      } else {
        if (writable) return -E.EACCES;
        const text = node.kind === 'control' ? this.controlText(node.m, node.name) : this.subsystemText(node.name);
        content = typeof text === 'string' ? Buffer.from(text) : text;
      }
    }
    const id = this.nextHandle++;
    if (this.nextHandle > 0x7fffffff) this.nextHandle = 1;
    const h: Handle = {
      id, node, writable, readable,
      generation: 'm' in node ? node.m.generation : 0,
      direct: (flags & O_DIRECT) !== 0,
      append: (flags & O_APPEND) !== 0,
    };
    if (content) h.content = content;
    this.handles.set(id, h);
    return id;
  }

  /** Last close of a handle: commit what it staged (errors can only be logged here). */
  release(fh: number): number {
    const h = this.handles.get(fh);
    if (!h) return 0;
    const r = this.commitStages(h);
    this.handles.delete(fh);
    return r < 0 ? r : 0;
  }

  /** close(2) of a descriptor: commit staged partial LBAs; the error is close()'s. */
  flush(fh: number): number {
    const h = this.handles.get(fh);
    if (!h) return 0;
    return this.commitStages(h);
  }

  fsync(fh: number): number {
    const h = this.handles.get(fh);
    if (!h) return -E.EBADF;
    if (this.stale(h)) return -E.EIO;
    const r = this.commitStages(h);
    if (r < 0) return r;
    if (!('m' in h.node)) return 0;
    try {
      h.node.m.ns.flush();
    } catch (e) {
      this.log.error({ err: e, ns: h.node.m.name }, 'flush failed');
      return -E.EIO;
    }
    return 0;
  }

  /** A data handle opened before a power cycle: the device it was talking to went away. */
  private stale(h: Handle): boolean {
    const n = h.node;
    if (n.kind !== 'nsfile' && n.kind !== 'zone') return false;
    if (n.m.gone) return true;
    if (h.generation === n.m.generation) return false;
    n.m.errors.add(`I/O on a file opened before the last power cycle of ${n.m.name}: reopen it errno=EIO`);
    return true;
  }

  // ---------------------------------------------------------------------------------------------
  // Read

  read(fh: number, buf: Buffer, len: number, pos: number): number {
    const h = this.handles.get(fh);
    if (!h) return -E.EBADF;
    if (this.stale(h)) return -E.EIO;
    const node = h.node;
    switch (node.kind) {
      case 'nsfile':
        return this.readNamespace(h, node.m, buf, len, pos);
      case 'zone':
        return this.readZone(h, node.m, node.zone, buf, len, pos);
      case 'control':
      case 'subsys': {
        const c = h.content;
        if (!c) return -E.EBADF;
        if (pos >= c.length) return 0;
        return c.copy(buf, 0, pos, Math.min(c.length, pos + len));
      }
      default:
        return -E.EISDIR;
    }
  }

  private readNamespace(h: Handle, m: MountedNamespace, buf: Buffer, len: number, pos: number): number {
    const ns = m.ns;
    if (h.direct && (pos % ns.lbaSize !== 0 || len % ns.lbaSize !== 0)) {
      return this.refuse(m, `O_DIRECT read at byte ${pos} of ${len} bytes is not LBA aligned (${ns.lbaSize})`, E.EINVAL);
    }
    const r = ns.read(pos, buf, 0, len);
    if (typeof r !== 'number') return this.rejected(m, r);
    if (m.stages.size > 0 && r > 0) this.overlayStages(m, buf, pos, r);
    if (this.debug) this.log.debug({ ns: m.name, op: 'read', pos, len: r }, 'read');
    return r;
  }

  private readZone(h: Handle, m: MountedNamespace, z: number, buf: Buffer, len: number, pos: number): number {
    const ns = m.ns;
    if (ns.engine.stateOf(z) === ZoneState.OFFLINE) {
      return this.refuse(m, `read of zone ${z}: the zone is offline`, E.EPERM);
    }
    const size = this.zoneSize(m, z);
    if (pos >= size) return 0;
    const n = Math.min(len, size - pos);
    if (h.direct && (pos % ns.lbaSize !== 0 || n % ns.lbaSize !== 0)) {
      return this.refuse(m, `O_DIRECT read of zone ${z} at offset ${pos} of ${n} bytes is not LBA aligned (${ns.lbaSize})`, E.EINVAL);
    }
    const abs = z * ns.zoneBytes + pos;
    const r = ns.read(abs, buf, 0, n);
    if (typeof r !== 'number') return this.rejected(m, r);
    if (m.stages.size > 0) this.overlayStages(m, buf, abs, r);
    return r;
  }

  /** Show staged (not yet committed) bytes to readers, as a page cache would. */
  private overlayStages(m: MountedNamespace, buf: Buffer, pos: number, len: number): void {
    for (const st of m.stages.values()) {
      const a = Math.max(pos, st.start);
      const b = Math.min(pos + len, st.start + st.len);
      if (a < b) st.buf.copy(buf, a - pos, a - st.start, b - st.start);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Write

  write(fh: number, buf: Buffer, len: number, pos: number): number {
    const h = this.handles.get(fh);
    if (!h) return -E.EBADF;
    if (!h.writable) return -E.EBADF;
    if (this.stale(h)) return -E.EIO;
    if (len === 0) return 0;
    const node = h.node;
    switch (node.kind) {
      case 'nsfile':
        return this.writeNamespace(h, node.m, buf, len, pos);
      case 'zone':
        return this.writeZone(h, node.m, node.zone, buf, len, pos);
      case 'control':
        return node.name === 'ctl' ? this.writeCtl(node.m, buf, len) : -E.EBADF;
      case 'subsys':
        return node.name === 'ctl' ? this.writeSubsystemCtl(buf, len) : -E.EBADF;
      default:
        return -E.EISDIR;
    }
  }

  private writeNamespace(h: Handle, m: MountedNamespace, buf: Buffer, len: number, pos: number): number {
    const ns = m.ns;
    const lba = ns.lbaSize;
    if (pos >= ns.capacity) {
      return this.refuse(m, `write at byte ${pos} is past the end of the namespace (${ns.capacity} bytes)`, E.ENOSPC);
    }
    // As on a block device: a write running past the end is cut short.
    if (pos + len > ns.capacity) len = ns.capacity - pos;
    const e = ns.engine;
    if (h.direct) {
      if (pos % lba !== 0 || len % lba !== 0) {
        return this.refuse(m, `O_DIRECT write at byte ${pos} of ${len} bytes is not LBA aligned (${lba})`, E.EINVAL);
      }
      const z = e.zoned ? e.zoneOf(pos / lba) : -1;
      const r = z < 0 || e.isConventional(z)
        ? ns.writeRandom(pos, buf, 0, len)
        : ns.write(pos / lba, buf, 0, len);
      if (r) return this.rejected(m, r);
      this.wrote(m, z, pos, len);
      return len;
    }
    if (!e.zoned) {
      const r = ns.writeRandom(pos, buf, 0, len);
      if (r) return this.rejected(m, r);
      this.wrote(m, -1, pos, len);
      return len;
    }
    // Page-cache rules: split at zone boundaries as writeback would, stage partial LBAs.
    let done = 0;
    while (done < len) {
      const p = pos + done;
      const z = Math.floor(p / ns.zoneBytes);
      const seg = Math.min(len - done, (z + 1) * ns.zoneBytes - p);
      let r: number;
      if (e.isConventional(z)) {
        const rej = ns.writeRandom(p, buf, done, seg);
        r = rej ? this.rejected(m, rej) : seg;
        if (r > 0) this.wrote(m, z, p, seg);
      } else {
        r = this.stagedWrite(h, m, z, p, buf, done, seg, false);
      }
      if (r < 0) return done > 0 ? done : r;
      done += r;
      if (r < seg) break;
    }
    return done;
  }

  private writeZone(h: Handle, m: MountedNamespace, z: number, buf: Buffer, len: number, pos: number): number {
    const ns = m.ns;
    const e = ns.engine;
    const lba = ns.lbaSize;
    const zoneStart = z * ns.zoneBytes;
    if (e.isConventional(z)) {
      if (h.append) return this.refuse(m, `O_APPEND write to conventional zone ${z}`, E.EINVAL);
      if (pos >= ns.zoneBytes) return this.refuse(m, `write at offset ${pos} is past the end of conventional zone ${z}`, E.EFBIG);
      if (pos + len > ns.zoneBytes) len = ns.zoneBytes - pos;
      if (h.direct && (pos % lba !== 0 || len % lba !== 0)) {
        return this.refuse(m, `O_DIRECT write to zone ${z} at offset ${pos} of ${len} bytes is not LBA aligned (${lba})`, E.EINVAL);
      }
      const r = ns.writeRandom(zoneStart + pos, buf, 0, len);
      if (r) return this.rejected(m, r);
      this.wrote(m, z, zoneStart + pos, len);
      return len;
    }
    const s = e.stateOf(z);
    if (s === ZoneState.READ_ONLY || s === ZoneState.OFFLINE) {
      return this.refuse(m, `write to zone ${z}: the zone is ${s === ZoneState.OFFLINE ? 'offline' : 'read only'}`, E.EPERM);
    }
    const capBytes = e.capLbas * lba;
    if (pos >= capBytes) {
      return this.refuse(m, `write to zone ${z} at offset ${pos}: at or past the zone capacity (${capBytes})`, E.EFBIG);
    }
    // zonefs: a write crossing the capacity is cut short.
    if (pos + len > capBytes) len = capBytes - pos;
    // An O_APPEND write is a zone append: the append size limit applies (to each request the
    // kernel sends, which is at most 128 KiB).
    if (h.append && e.zaslLbas !== 0 && len > e.zaslLbas * lba) {
      return this.rejected(m, {
        status: Status.INVALID_FIELD, op: 'zone append', zone: z, lba: e.wpOf(z), wp: e.wpOf(z),
        detail: `append of ${len} bytes exceeds the zone append size limit of ${e.zaslLbas * lba} bytes`,
      });
    }
    const size = this.zoneSize(m, z);
    if (pos !== size) {
      const why = h.append
        ? `O_APPEND write to zone ${z} at offset ${pos}, but the write pointer moved to ${size} through another path; reopen the file or fstat it`
        : `write to zone ${z} at offset ${pos}, but the zone file's size (write pointer) is ${size}`;
      return this.refuse(m, why, E.EINVAL);
    }
    if (h.direct) {
      if (pos % lba !== 0 || len % lba !== 0) {
        return this.refuse(m, `O_DIRECT write to zone ${z} at offset ${pos} of ${len} bytes is not LBA aligned (${lba})`, E.EINVAL);
      }
      const r = ns.write((zoneStart + pos) / lba, buf, 0, len);
      if (r) return this.rejected(m, r);
      this.wrote(m, z, zoneStart + pos, len);
      return len;
    }
    return this.stagedWrite(h, m, z, zoneStart + pos, buf, 0, len, true);
  }

  /**
   * Buffered write of buf[off, off+len) at absolute byte p of sequential zone z: complete the
   * staged partial LBA, commit whole LBAs, stage the new tail. Returns bytes accepted or -errno.
   */
  private stagedWrite(h: Handle, m: MountedNamespace, z: number, p: number, buf: Buffer, off: number, len: number, zoneFile: boolean): number {
    const ns = m.ns;
    const e = ns.engine;
    const lba = ns.lbaSize;
    let st = m.stages.get(z);
    const expected = st ? st.start + st.len : e.wpOf(z) * lba;
    if (p !== expected) {
      const detail = `buffered write at byte ${p} of zone ${z}, but the zone continues at byte ${expected}`;
      if (zoneFile) return this.refuse(m, detail, E.EINVAL);
      return this.rejected(m, { status: Status.ZONE_INVALID_WRITE, op: 'write', zone: z, lba: Math.floor(p / lba), wp: e.wpOf(z), detail });
    }
    let done = 0;
    if (st) {
      const take = Math.min(lba - st.len, len);
      buf.copy(st.buf, st.len, off, off + take);
      st.len += take;
      st.writers.add(h);
      done = take;
      if (st.len === lba) {
        const r = this.commitStage(m, st);
        if (r < 0) return r;
      }
      if (done === len) return done;
    }
    const rest = len - done;
    const whole = rest - (rest % lba);
    const at = p + done;
    if (whole > 0) {
      const r = ns.write(at / lba, buf, off + done, whole);
      if (r) return done > 0 ? done : this.rejected(m, r);
      this.wrote(m, z, at, whole);
      done += whole;
    }
    const tail = rest - whole;
    if (tail > 0) {
      const tailAt = at + whole;
      // Check now that the LBA could be written, so the error comes with this write.
      const r = e.checkWrite(tailAt / lba, 1);
      if (r) return done > 0 ? done : this.rejected(m, r);
      st = { zone: z, start: tailAt, len: tail, buf: Buffer.alloc(lba), writers: new Set([h]) };
      buf.copy(st.buf, 0, off + done, off + done + tail);
      m.stages.set(z, st);
      m.touch(z);
      done += tail;
    }
    return done;
  }

  /** Zero-pad and commit a staged LBA. */
  private commitStage(m: MountedNamespace, st: Stage): number {
    m.stages.delete(st.zone);
    st.buf.fill(0, st.len);
    const lba = m.ns.lbaSize;
    const r = m.ns.write(st.start / lba, st.buf, 0, lba);
    if (r) return this.rejected(m, r);
    this.wrote(m, st.zone, st.start, lba);
    return 0;
  }

  /** Commit every stage handle h wrote to; returns the first error. */
  private commitStages(h: Handle): number {
    const node = h.node;
    if (node.kind !== 'nsfile' && node.kind !== 'zone') return 0;
    const m = node.m;
    if (m.stages.size === 0) return 0;
    let result = 0;
    for (const st of [...m.stages.values()]) {
      if (!st.writers.has(h)) continue;
      try {
        const r = this.commitStage(m, st);
        if (r < 0 && result === 0) result = r;
      } catch (e) {
        this.log.error({ err: e, ns: m.name }, 'committing a partial LBA failed');
        if (result === 0) result = -E.EIO;
      }
    }
    return result;
  }

  private wrote(m: MountedNamespace, z: number, pos: number, len: number): void {
    m.touch(z);
    if (z >= 0 && m.ns.engine.zoned && m.ns.engine.isConventional(z)) {
      // A write may span conventional zones: forget all cached block counts it touched.
      const zb = m.ns.zoneBytes;
      for (let c = Math.floor(pos / zb); c <= Math.floor((pos + len - 1) / zb); c++) m.convBlocks.delete(c);
    }
    if (this.debug) this.log.debug({ ns: m.name, op: 'write', pos, len }, 'write');
  }

  // ---------------------------------------------------------------------------------------------
  // Truncate

  truncate(path: string, size: number): number {
    const node = this.resolve(path);
    if (!node) return -E.ENOENT;
    return this.truncateNode(node, size);
  }

  ftruncate(fh: number, size: number): number {
    const h = this.handles.get(fh);
    if (!h) return -E.EBADF;
    return this.truncateNode(h.node, size);
  }

  private truncateNode(node: Node, size: number): number {
    switch (node.kind) {
      case 'nsfile':
        // A device has a fixed size: accepted and ignored, so dd without conv=notrunc works.
        return 0;
      case 'zone':
        return this.truncateZone(node.m, node.zone, size);
      case 'control':
      case 'subsys':
        // `echo cmd > ctl` opens with O_TRUNC; there is nothing to truncate.
        return node.name === 'ctl' ? 0 : -E.EACCES;
      default:
        return -E.EISDIR;
    }
  }

  /** zonefs: 0 = reset, capacity = finish, beyond capacity EFBIG, anything else EPERM. */
  private truncateZone(m: MountedNamespace, z: number, size: number): number {
    const ns = m.ns;
    const e = ns.engine;
    if (e.isConventional(z)) return this.refuse(m, `truncate of conventional zone ${z}`, E.EPERM);
    const s = e.stateOf(z);
    if (s === ZoneState.READ_ONLY || s === ZoneState.OFFLINE) {
      return this.refuse(m, `truncate of zone ${z}: the zone is ${s === ZoneState.OFFLINE ? 'offline' : 'read only'}`, E.EPERM);
    }
    const capBytes = e.capLbas * e.lbaSize;
    let cmd: 'reset' | 'finish';
    if (size === 0) cmd = 'reset';
    else if (size === capBytes) cmd = 'finish';
    else if (size > capBytes) return this.refuse(m, `truncate of zone ${z} to ${size}: beyond the zone capacity ${capBytes}`, E.EFBIG);
    else return this.refuse(m, `truncate of zone ${z} to ${size}: only 0 (reset) or ${capBytes} (finish) are allowed`, E.EPERM);
    const st = m.stages.get(z);
    if (st) {
      if (cmd === 'finish') {
        const r = this.commitStage(m, st);
        if (r < 0) return r;
      } else {
        m.stages.delete(z);
      }
    }
    return this.zoneCommand(m, cmd, z);
  }

  private zoneCommand(m: MountedNamespace, cmd: 'reset' | 'finish', z: number): number {
    const r = m.ns.manage(cmd, z);
    if (r) return this.rejected(m, r);
    m.touch(z);
    this.log.info({ ns: m.name, cmd, zone: z }, `zone ${cmd} ${z}`);
    return 0;
  }

  // ---------------------------------------------------------------------------------------------
  // Control files

  private controlText(m: MountedNamespace, name: ControlName): string | Buffer {
    const e = m.ns.engine;
    switch (name) {
      case 'info':
        return formatInfo([...namespaceInfo(m.name, e), ...deviceInfo(m.ns)]);
      case 'faults': {
        const lines = m.ns.listFaults();
        return lines.length ? lines.join('\n') + '\n' : '';
      }
      case 'report':
        return reportBuffer(e, 'blkzone');
      case 'report.json':
        return reportBuffer(e, 'json');
      case 'errors':
        return m.errors.text();
      case 'ctl':
        return '';
    }
  }

  private writeCtl(m: MountedNamespace, buf: Buffer, len: number): number {
    const text = buf.toString('utf8', 0, len);
    const lines = commandLines(text);
    if (lines.length === 0) return this.refuse(m, `ctl: empty command`, E.EINVAL);
    const e = m.ns.engine;
    for (const line of lines) {
      let cmd: ControlCommand;
      try {
        cmd = parseCommand(line, e.nrZones, e.nlba);
      } catch (err) {
        if (err instanceof CommandSyntaxError) return this.refuse(m, `ctl "${line}": ${err.message}`, E.EINVAL);
        throw err;
      }
      const zone = cmd.zone;
      if (typeof zone === 'number' && e.isConventional(zone)) {
        return this.refuse(m, `ctl "${line}": zone ${zone} is conventional`, E.EINVAL);
      }
      this.dropStagesFor(m, cmd);
      let r: Rejection | undefined;
      try {
        r = executeCommand(m.ns, cmd);
      } catch (err) {
        if (err instanceof RangeError) return this.refuse(m, `ctl "${line}": ${err.message}`, E.EINVAL);
        throw err;
      }
      if (r) return this.rejected(m, r);
      if (cmd.verb === 'power-cycle' || cmd.verb === 'shutdown') {
        m.generation++;
        this.log.warn({ ns: m.name, cmd: cmd.verb }, `${cmd.verb}: open files of ${m.name} now fail with EIO until reopened`);
      }
      m.touch(typeof zone === 'number' ? zone : -1);
      if (zone === 'all' || zone === undefined) m.zoneMtime.fill(m.mtime);
      this.log.info({ ns: m.name, cmd: formatCommand(cmd) }, `ctl: ${formatCommand(cmd)}`);
    }
    return len;
  }

  /** What buffered writers staged but a command makes moot: a reset, a fault, a power event. */
  private dropStagesFor(m: MountedNamespace, cmd: ControlCommand): void {
    const v = cmd.verb;
    if (v === 'power-cycle' || v === 'shutdown' || ((v === 'reset' || v === 'offline') && cmd.zone === 'all')) {
      m.stages.clear();
    } else if (typeof cmd.zone === 'number' && v !== 'open' && v !== 'close' && v !== 'recommend') {
      m.stages.delete(cmd.zone);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Subsystem: namespaces created, deleted, detached and attached at run time

  private subsystemText(name: SubsystemName): string {
    if (name === 'errors') return this.subsysErrors.text();
    if (name === 'ctl') return '';
    return formatSubsystemInfo(this.store.list());
  }

  private writeSubsystemCtl(buf: Buffer, len: number): number {
    const lines = commandLines(buf.toString('utf8', 0, len));
    if (lines.length === 0) return this.refuseSubsystem('ctl: empty command', E.EINVAL);
    for (const line of lines) {
      let cmd: SubsystemCommand;
      try {
        cmd = parseSubsystemCommand(line);
      } catch (err) {
        if (err instanceof CommandSyntaxError) return this.refuseSubsystem(`ctl "${line}": ${err.message}`, E.EINVAL);
        throw err;
      }
      try {
        this.runSubsystemCommand(cmd);
      } catch (err) {
        if (err instanceof StoreError) return this.refuseSubsystem(`ctl "${line}": ${err.message}`, E[err.code]);
        if (err instanceof GeometryError) return this.refuseSubsystem(`ctl "${line}": ${err.message}`, E.EINVAL);
        if (err instanceof FormatError) return this.refuseSubsystem(`ctl "${line}": ${err.message}`, E.EIO);
        throw err;
      }
      this.log.info({ cmd: line }, `subsystem: ${line}`);
    }
    return len;
  }

  private runSubsystemCommand(cmd: SubsystemCommand): void {
    switch (cmd.verb) {
      case 'create': {
        const opts = { volatileCache: cmd.volatileCache, endianness: cmd.endianness, ...(cmd.name === undefined ? {} : { name: cmd.name }) };
        this.attach(this.store.createNamespace(cmd.geometry, opts));
        return;
      }
      case 'attach':
        this.attach(this.store.attach(cmd.name));
        return;
      case 'detach':
        this.store.detach(cmd.name);
        this.unmountNamespace(cmd.name);
        return;
      case 'delete': {
        const busy = this.openHandles(cmd.name);
        if (busy > 0 && !cmd.force) {
          throw new StoreError(`namespace ${cmd.name} is in use (${busy} open file${busy === 1 ? '' : 's'}); use "delete ${cmd.name} force"`, 'EBUSY');
        }
        this.store.deleteNamespace(cmd.name);
        this.unmountNamespace(cmd.name);
        return;
      }
    }
  }

  private refuseSubsystem(why: string, errno: number): number {
    const name = errnoName(errno);
    this.subsysErrors.add(`${why} errno=${name}`);
    this.log.info({ errno: name }, why);
    return -errno;
  }

  // ---------------------------------------------------------------------------------------------
  // Refusals

  /** A device refusal: log it, add it to `errors`, return its errno. */
  private rejected(m: MountedNamespace, r: Rejection, errno?: number): number {
    const code = errno ?? ERRNO[r.status.errno];
    const name = errnoName(code);
    m.errors.addRejection(r, name);
    this.log.info({ ns: m.name, op: r.op, zone: r.zone, lba: r.lba, wp: r.wp, status: r.status.name, code: r.status.code, errno: name },
      `${r.op} refused: ${r.status.name}: ${r.detail}`);
    return -code;
  }

  /** A file-interface refusal that is not a device status. */
  private refuse(m: MountedNamespace, why: string, errno = E.EINVAL): number {
    const name = errnoName(errno);
    m.errors.add(`${why} errno=${name}`);
    this.log.info({ ns: m.name, errno: name }, why);
    return -errno;
  }

  /** Commit everything staged (used at unmount). */
  commitAll(): void {
    for (const h of this.handles.values()) this.commitStages(h);
  }
}

// Node's table lacks a few Linux names (ETOOMANYREFS): the engine's table fills them in.
const ERRNO_NAMES = new Map<number, string>([...Object.entries(E), ...Object.entries(ERRNO)].map(([k, v]) => [v as number, k]));
function errnoName(code: number): string {
  return ERRNO_NAMES.get(code) ?? `errno ${code}`;
}
