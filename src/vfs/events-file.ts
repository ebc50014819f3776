/**
 * `/NAME.zones/events` (PRODUCT.md §10): the device's own zone changes, one line each, served
 * live from the namespace's events log rather than as a snapshot taken at open, with its real
 * size, so `tail -f` (which polls the size on FUSE) sees new lines as they are appended.
 */
import { Attr, Owner, fileAttr } from './attr.js';
import { Handle, Node } from './node.js';
import { MountedNamespace } from './mounted-namespace.js';
import { E } from './errno.js';

export const EVENTS_FILE = 'events';

export class EventsFile implements Node {
  readonly holdsData = false;

  constructor(private readonly owner: Owner, readonly m: MountedNamespace) {}

  attr(): Attr {
    const log = this.m.ns.events;
    return fileAttr(this.owner, 0o444, log.size, log.size, 4096, Math.max(this.m.mtime, log.lastAppend));
  }

  open(h: Handle): number {
    return h.writable ? -E.EACCES : 0;
  }

  read(_h: Handle, buf: Buffer, len: number, pos: number): number {
    return this.m.ns.events.read(pos, buf, 0, len);
  }

  write(): number {
    return -E.EBADF;
  }

  truncate(): number {
    return -E.EACCES;
  }

  readdir(): number {
    return -E.ENOTDIR;
  }
}
