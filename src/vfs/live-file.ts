/**
 * What the read-only control files served live share (`events`, `zones.bin`): unlike the
 * snapshots of generated-file.ts, every read is answered from the namespace as it is now, and the
 * size is real. Opening for writing is EACCES, writes EBADF, truncate EACCES.
 */
import { Attr, Owner } from './attr.js';
import { Handle, Node } from './node.js';
import { MountedNamespace } from './mounted-namespace.js';
import { E } from './errno.js';

export abstract class LiveReadOnlyFile implements Node {
  readonly holdsData = false;

  constructor(protected readonly owner: Owner, readonly m: MountedNamespace) {}

  abstract attr(): Attr;
  abstract read(h: Handle, buf: Buffer, len: number, pos: number): number;

  open(h: Handle): number {
    return h.writable ? -E.EACCES : 0;
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
