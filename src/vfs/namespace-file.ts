/**
 * The namespace file /NAME: device semantics (PRODUCT.md §4). O_DIRECT handles get raw device
 * rules; buffered handles get page-cache rules (staging.ts) in sequential zones.
 */
import { Attr, Owner, fileAttr } from './attr.js';
import { Handle, Node } from './node.js';
import { MountedNamespace } from './mounted-namespace.js';
import { E } from './errno.js';

export class NamespaceFile implements Node {
  readonly holdsData = true;

  constructor(private readonly owner: Owner, readonly m: MountedNamespace) {}

  attr(): Attr {
    const m = this.m;
    const ns = m.ns;
    return fileAttr(this.owner, 0o644, ns.capacity, ns.allocatedBytes(), ns.lbaSize, m.mtime);
  }

  open(): number {
    return 0;
  }

  readdir(): number {
    return -E.ENOTDIR;
  }

  read(h: Handle, buf: Buffer, len: number, pos: number): number {
    const m = this.m;
    const ns = m.ns;
    if (h.direct && (pos % ns.lbaSize !== 0 || len % ns.lbaSize !== 0)) {
      return m.refuse(`O_DIRECT read at byte ${pos} of ${len} bytes is not LBA aligned (${ns.lbaSize})`, E.EINVAL);
    }
    const r = ns.read(pos, buf, 0, len);
    if (typeof r !== 'number') return m.rejected(r);
    if (m.stages.size > 0 && r > 0) m.stages.overlay(h, buf, pos, r);
    m.traceRead(pos, r);
    return r;
  }

  write(h: Handle, buf: Buffer, len: number, pos: number): number {
    const m = this.m;
    const ns = m.ns;
    const lba = ns.lbaSize;
    if (pos >= ns.capacity) {
      return m.refuse(`write at byte ${pos} is past the end of the namespace (${ns.capacity} bytes)`, E.ENOSPC);
    }
    // As on a block device: a write running past the end is cut short.
    if (pos + len > ns.capacity) len = ns.capacity - pos;
    const e = ns.engine;
    if (h.direct) {
      if (pos % lba !== 0 || len % lba !== 0) {
        return m.refuse(`O_DIRECT write at byte ${pos} of ${len} bytes is not LBA aligned (${lba})`, E.EINVAL);
      }
      const z = e.zoned ? e.zoneOf(pos / lba) : -1;
      let r;
      try {
        r = z < 0 || e.isConventional(z)
          ? ns.writeRandom(pos, buf, 0, len)
          : ns.write(pos / lba, buf, 0, len);
      } catch (err) {
        return m.writeFailed(err, z, pos, 0);
      }
      if (r) return m.rejected(r);
      m.wrote(z, pos, len);
      return len;
    }
    if (!e.zoned) {
      let r;
      try {
        r = ns.writeRandom(pos, buf, 0, len);
      } catch (err) {
        return m.writeFailed(err, -1, pos, 0);
      }
      if (r) return m.rejected(r);
      m.wrote(-1, pos, len);
      return len;
    }
    // Page-cache rules: split at zone boundaries as writeback would, stage partial LBAs.
    let done = 0;
    while (done < len) {
      const p = pos + done;
      const z = Math.floor(p / ns.zoneBytes);
      const seg = Math.min(len - done, (z + 1) * ns.zoneBytes - p);
      let r: number;
      try {
        if (e.isConventional(z)) {
          const rej = ns.writeRandom(p, buf, done, seg);
          r = rej ? m.rejected(rej) : seg;
          if (r > 0) m.wrote(z, p, seg);
        } else {
          r = m.stages.write(h, z, p, buf, done, seg, false);
        }
      } catch (err) {
        return m.writeFailed(err, z, p, done);
      }
      if (r < 0) return done > 0 ? done : r;
      done += r;
      if (r < seg) break;
    }
    return done;
  }

  /** A device has a fixed size: accepted and ignored, so dd without conv=notrunc works. */
  truncate(): number {
    return 0;
  }
}
