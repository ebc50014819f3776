/**
 * `/NAME.zones/changes.bin` (docs/zones-bin.md, "Following changes"): per group of zones, the
 * sequence number of its latest change, so a follower of zones.bin reads only the records that
 * changed since the generation it knows. A snapshot taken at open, like the text control files,
 * but with its real (fixed) size.
 */
import { CHANGES_BIN, changesBinSize, encodeChangesBin } from '../format/changes-bin.js';
import { Attr, Owner, fileAttr } from './attr.js';
import { Node } from './node.js';
import { GeneratedFile } from './generated-file.js';
import { MountedNamespace } from './mounted-namespace.js';
import { E } from './errno.js';

export class ChangesBinFile extends GeneratedFile implements Node {
  constructor(owner: Owner, readonly m: MountedNamespace) {
    super(owner, CHANGES_BIN);
  }

  override attr(): Attr {
    return fileAttr(this.owner, 0o444, changesBinSize(this.m.ns.engine.nrZones), 0, 4096, this.m.mtime);
  }

  protected mtime(): number {
    return this.m.mtime;
  }

  /** Only `ctl` takes commands (GeneratedFile refuses writes to every other file first). */
  protected writeCommands(): number {
    return -E.EBADF;
  }

  snapshot(): Buffer {
    return encodeChangesBin(this.m.changes, this.m.ns.engine.nrZones);
  }
}
