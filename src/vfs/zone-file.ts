/**
 * Zone files /NAME.zones/N: zonefs semantics (PRODUCT.md §5). A sequential zone file's size is
 * its write pointer (plus staged bytes); truncate to 0 resets, to capacity finishes.
 */
import { Status } from '../engine/status.js';
import { ZoneAttr, ZoneState } from '../engine/zone.js';
import { Attr, Owner, fileAttr } from './attr.js';
import { Handle, Node } from './node.js';
import { MountedNamespace } from './mounted-namespace.js';
import { E } from './errno.js';

/**
 * Zone file size: write pointer offset, capacity when Full. Seen through handle h, plus the
 * partial LBA h staged (its own page cache); other handles see the device.
 */
export function zoneFileSize(m: MountedNamespace, z: number, h?: Handle): number {
  const e = m.ns.engine;
  if (e.isConventional(z)) return m.ns.zoneBytes;
  const s = e.stateOf(z);
  if (s === ZoneState.OFFLINE) return 0;
  if (s === ZoneState.FULL) return e.capLbas * e.lbaSize;
  const committed = e.dataLbas(z) * e.lbaSize;
  const st = h && m.stages.size > 0 ? m.stages.get(h, z) : undefined;
  return st ? st.start + st.len - z * m.ns.zoneBytes : committed;
}

function unusable(s: ZoneState): string {
  return s === ZoneState.OFFLINE ? 'offline' : 'read only';
}

export class ZoneFile implements Node {
  readonly holdsData = true;

  constructor(private readonly owner: Owner, readonly m: MountedNamespace, readonly zone: number) {}

  attr(h?: Handle): Attr {
    const { m, zone: z } = this;
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
    return fileAttr(this.owner, perm, zoneFileSize(m, z, h), bytes, e.lbaSize, m.zoneMtime[z]!);
  }

  open(h: Handle): number {
    const s = this.m.ns.engine.stateOf(this.zone);
    if (h.writable && (s === ZoneState.READ_ONLY || s === ZoneState.OFFLINE)) {
      return this.m.refuse(`open zone ${this.zone} for writing: the zone is ${unusable(s)}`, E.EPERM);
    }
    return 0;
  }

  readdir(): number {
    return -E.ENOTDIR;
  }

  read(h: Handle, buf: Buffer, len: number, pos: number): number {
    const { m, zone: z } = this;
    const ns = m.ns;
    if (ns.engine.stateOf(z) === ZoneState.OFFLINE) {
      return m.refuse(`read of zone ${z}: the zone is offline`, E.EPERM);
    }
    const size = zoneFileSize(m, z, h);
    if (pos >= size) return 0;
    const n = Math.min(len, size - pos);
    if (h.direct && (pos % ns.lbaSize !== 0 || n % ns.lbaSize !== 0)) {
      return m.refuse(`O_DIRECT read of zone ${z} at offset ${pos} of ${n} bytes is not LBA aligned (${ns.lbaSize})`, E.EINVAL);
    }
    const abs = z * ns.zoneBytes + pos;
    const r = ns.read(abs, buf, 0, n);
    if (typeof r !== 'number') return m.rejected(r);
    if (m.stages.size > 0) m.stages.overlay(h, buf, abs, r);
    return r;
  }

  write(h: Handle, buf: Buffer, len: number, pos: number): number {
    const { m, zone: z } = this;
    const ns = m.ns;
    const e = ns.engine;
    const lba = ns.lbaSize;
    const zoneStart = z * ns.zoneBytes;
    if (e.isConventional(z)) {
      if (h.append) return m.refuse(`O_APPEND write to conventional zone ${z}`, E.EINVAL);
      if (pos >= ns.zoneBytes) return m.refuse(`write at offset ${pos} is past the end of conventional zone ${z}`, E.EFBIG);
      if (pos + len > ns.zoneBytes) len = ns.zoneBytes - pos;
      if (h.direct && (pos % lba !== 0 || len % lba !== 0)) {
        return m.refuse(`O_DIRECT write to zone ${z} at offset ${pos} of ${len} bytes is not LBA aligned (${lba})`, E.EINVAL);
      }
      let r;
      try {
        r = ns.writeRandom(zoneStart + pos, buf, 0, len);
      } catch (err) {
        return m.writeFailed(err, z, zoneStart + pos, 0);
      }
      if (r) return m.rejected(r);
      m.wrote(z, zoneStart + pos, len);
      return len;
    }
    const s = e.stateOf(z);
    if (s === ZoneState.READ_ONLY || s === ZoneState.OFFLINE) {
      return m.refuse(`write to zone ${z}: the zone is ${unusable(s)}`, E.EPERM);
    }
    const capBytes = e.capLbas * lba;
    if (pos >= capBytes) {
      return m.refuse(`write to zone ${z} at offset ${pos}: at or past the zone capacity (${capBytes})`, E.EFBIG);
    }
    // zonefs: a write crossing the capacity is cut short.
    if (pos + len > capBytes) len = capBytes - pos;
    // An O_APPEND write is a zone append: the append size limit applies (to each request the
    // kernel sends, which is at most 128 KiB).
    if (h.append && e.zaslLbas !== 0 && len > e.zaslLbas * lba) {
      return m.rejected({
        status: Status.INVALID_FIELD, op: 'zone append', zone: z, lba: e.wpOf(z), wp: e.wpOf(z),
        detail: `append of ${len} bytes exceeds the zone append size limit of ${e.zaslLbas * lba} bytes`,
      });
    }
    const zrwa = (e.attrsOf(z) & ZoneAttr.ZRWAV) !== 0;
    if (zrwa && h.append) {
      // O_APPEND on a zone file is a zone append, which a ZRWA zone refuses.
      return m.rejected({
        status: Status.INVALID_ZONE_OP, op: 'zone append', zone: z, lba: e.wpOf(z), wp: e.wpOf(z),
        detail: `zone ${z} has a ZRWA; zone append is not allowed there (write at an offset instead)`,
      });
    }
    const size = zoneFileSize(m, z, h);
    // A ZRWA zone's file also takes writes over its window: from the write pointer to its size.
    const inWindow = zrwa && pos >= (e.wpOf(z) - e.zoneStart(z)) * lba && pos <= size;
    if (pos !== size && !inWindow) {
      const why = h.append
        ? `O_APPEND write to zone ${z} at offset ${pos}, but the write pointer moved to ${size} through another path; reopen the file or fstat it`
        : `write to zone ${z} at offset ${pos}, but the zone file's size (write pointer) is ${size}`;
      return m.refuse(why, E.EINVAL);
    }
    if (h.direct) {
      if (pos % lba !== 0 || len % lba !== 0) {
        return m.refuse(`O_DIRECT write to zone ${z} at offset ${pos} of ${len} bytes is not LBA aligned (${lba})`, E.EINVAL);
      }
      let r;
      try {
        r = ns.write((zoneStart + pos) / lba, buf, 0, len);
      } catch (err) {
        return m.writeFailed(err, z, zoneStart + pos, 0);
      }
      if (r) return m.rejected(r);
      m.wrote(z, zoneStart + pos, len);
      return len;
    }
    return m.stages.write(h, z, zoneStart + pos, buf, 0, len, true);
  }

  /**
   * zonefs: 0 = reset, capacity = finish, beyond capacity EFBIG, anything else EPERM. Through a
   * handle, a finish first commits what that handle staged; other stages of the zone are dropped,
   * as Linux drops a zone's page cache on reset and finish.
   */
  truncate(size: number, h?: Handle): number {
    const { m, zone: z } = this;
    const e = m.ns.engine;
    if (e.isConventional(z)) return m.refuse(`truncate of conventional zone ${z}`, E.EPERM);
    const s = e.stateOf(z);
    if (s === ZoneState.READ_ONLY || s === ZoneState.OFFLINE) {
      return m.refuse(`truncate of zone ${z}: the zone is ${unusable(s)}`, E.EPERM);
    }
    const capBytes = e.capLbas * e.lbaSize;
    let cmd: 'reset' | 'finish';
    if (size === 0) cmd = 'reset';
    else if (size === capBytes) cmd = 'finish';
    else if (size > capBytes) return m.refuse(`truncate of zone ${z} to ${size}: beyond the zone capacity ${capBytes}`, E.EFBIG);
    else return m.refuse(`truncate of zone ${z} to ${size}: only 0 (reset) or ${capBytes} (finish) are allowed`, E.EPERM);
    const st = h && cmd === 'finish' ? m.stages.get(h, z) : undefined;
    if (st) {
      const r = m.stages.commit(st);
      if (r < 0) return r;
    }
    m.stages.dropZone(z);
    const r = m.ns.manage(cmd, z);
    if (r) return m.rejected(r);
    m.touch(z);
    m.log.info({ ns: m.name, cmd, zone: z }, `zone ${cmd} ${z}`);
    return 0;
  }
}
