/**
 * One node of the mounted tree. Each kind (directory, namespace file, zone file, control file,
 * top-level file) implements its own semantics; the dispatcher only resolves paths and handles.
 * Every operation returns a result or a negative errno and never throws for a refused request.
 */
import { Attr } from './attr.js';
import { MountedNamespace } from './mounted-namespace.js';
import { E } from './errno.js';

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

export interface Node {
  /** The namespace the node belongs to; undefined for the root and the top-level files. */
  readonly m: MountedNamespace | undefined;
  /** Namespace and zone files: handles go stale at a power cycle and may stage partial LBAs. */
  readonly holdsData: boolean;
  /** Attributes, as seen through handle h when given (fstat). */
  attr(h?: Handle): Attr;
  /** Called with the new handle before it is registered: 0 to accept, or -errno. */
  open(h: Handle): number;
  read(h: Handle, buf: Buffer, len: number, pos: number): number;
  write(h: Handle, buf: Buffer, len: number, pos: number): number;
  /** truncate(2), or ftruncate(2) through handle h. */
  truncate(size: number, h?: Handle): number;
  readdir(): string[] | number;
}

/** Read from the snapshot a control file's handle captured at open. */
export function readSnapshot(h: Handle, buf: Buffer, len: number, pos: number): number {
  const c = h.content;
  if (!c) return -E.EBADF;
  if (pos >= c.length) return 0;
  return c.copy(buf, 0, pos, Math.min(c.length, pos + len));
}

/** Open rules of a generated control file: `ctl` is write-only, the others read-only snapshots. */
export function openControl(h: Handle, isCtl: boolean, source: { snapshot(): string | Buffer }): number {
  if (isCtl) return h.readable ? -E.EACCES : 0;
  if (h.writable) return -E.EACCES;
  const t = source.snapshot();
  h.content = typeof t === 'string' ? Buffer.from(t) : t;
  return 0;
}
