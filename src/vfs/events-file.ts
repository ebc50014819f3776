/**
 * `/NAME.zones/events` (PRODUCT.md §10): the device's own zone changes, one line each, served
 * live from the namespace's events log rather than as a snapshot taken at open, with its real
 * size, so `tail -f` (which polls the size on FUSE) sees new lines as they are appended.
 */
import { Attr, fileAttr } from './attr.js';
import { Handle } from './node.js';
import { LiveReadOnlyFile } from './live-file.js';

export const EVENTS_FILE = 'events';

export class EventsFile extends LiveReadOnlyFile {
  attr(): Attr {
    const log = this.m.ns.events;
    return fileAttr(this.owner, 0o444, log.size, log.size, 4096, Math.max(this.m.mtime, log.lastAppend));
  }

  read(_h: Handle, buf: Buffer, len: number, pos: number): number {
    return this.m.ns.events.read(pos, buf, 0, len);
  }
}
