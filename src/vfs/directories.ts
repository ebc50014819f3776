/**
 * The two directories of the tree: the root (namespace files, control directories, top-level
 * files) and each namespace's control directory (zone files and control files).
 */
import { Attr, Owner, dirAttr } from './attr.js';
import { Handle, Node } from './node.js';
import { MountedNamespace } from './mounted-namespace.js';
import { CONTROL_FILES } from './control-files.js';
import { EVENTS_FILE } from './events-file.js';
import { ZONES_BIN } from './zones-bin-file.js';
import { CHANGES_BIN } from '../format/changes-bin.js';
import { SUBSYSTEM_FILES } from './subsystem-files.js';
import { E } from './errno.js';

abstract class Directory implements Node {
  abstract readonly m: MountedNamespace | undefined;
  readonly holdsData = false;
  abstract attr(): Attr;
  abstract readdir(): string[];
  open(_h: Handle): number {
    return -E.EISDIR;
  }
  read(): number {
    return -E.EISDIR;
  }
  write(): number {
    return -E.EISDIR;
  }
  truncate(): number {
    return -E.EISDIR;
  }
}

export class RootDir extends Directory {
  readonly m = undefined;

  constructor(private readonly owner: Owner, private readonly mounted: ReadonlyMap<string, MountedNamespace>) {
    super();
  }

  attr(): Attr {
    return dirAttr(this.owner, 2 + this.mounted.size, 0o755);
  }

  readdir(): string[] {
    const names: string[] = [];
    for (const m of this.mounted.values()) {
      names.push(m.name);
      if (m.ns.engine.zoned) names.push(m.zonesDir);
    }
    names.push(...SUBSYSTEM_FILES);
    return names;
  }
}

export class ZoneDir extends Directory {
  constructor(private readonly owner: Owner, readonly m: MountedNamespace) {
    super();
  }

  attr(): Attr {
    return dirAttr(this.owner, 2, 0o555);
  }

  readdir(): string[] {
    const n = this.m.ns.engine.nrZones;
    const names = new Array<string>(n);
    for (let z = 0; z < n; z++) names[z] = String(z);
    names.push(...CONTROL_FILES, ZONES_BIN, CHANGES_BIN, EVENTS_FILE);
    return names;
  }
}
