/**
 * `/NAME.zones/zones.bin` (docs/zones-bin.md): the binary zone report. Unlike the text control
 * files it is not a snapshot taken at open: every read is answered from the live engine and
 * encodes only the records it covers, so a client can read one zone of 100,000 for the price of
 * one record, and reading the header again shows whether anything changed (the generation).
 * Each record carries its zone's change sequence number (MountedNamespace.changes).
 */
import { ZoneChangeState, readZonesBin, zonesBinSize } from '../format/zones-bin.js';
import { Attr, fileAttr } from './attr.js';
import { Handle } from './node.js';
import { LiveReadOnlyFile } from './live-file.js';
import { MountedNamespace } from './mounted-namespace.js';

export const ZONES_BIN = 'zones.bin';

export class ZonesBinFile extends LiveReadOnlyFile {
  get engine(): MountedNamespace['ns']['engine'] {
    return this.m.ns.engine;
  }

  /** The generation and sequence numbers: every change the mount makes, power cycles included. */
  get changes(): ZoneChangeState {
    return this.m.changes;
  }

  attr(): Attr {
    return fileAttr(this.owner, 0o444, zonesBinSize(this.engine.nrZones), 0, 4096, this.m.mtime);
  }

  read(_h: Handle, buf: Buffer, len: number, pos: number): number {
    return readZonesBin(this, buf, len, pos);
  }
}
