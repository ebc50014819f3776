/**
 * File attributes as the FUSE bindings expect them, built for the mount's owner.
 */
const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;

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

/** Who owns every file of the mount, and when it was mounted. */
export interface Owner {
  readonly uid: number;
  readonly gid: number;
  readonly mountTime: number;
}

export function fileAttr(o: Owner, perm: number, size: number, bytes: number, blksize: number, mtime: number): Attr {
  return {
    mode: S_IFREG | perm, size, blocks: Math.ceil(bytes / 512), blksize, nlink: 1,
    uid: o.uid, gid: o.gid, mtime, atime: mtime, ctime: mtime,
  };
}

export function dirAttr(o: Owner, entries: number, mode: number): Attr {
  const t = o.mountTime;
  return { mode: S_IFDIR | mode, size: entries, blocks: 0, blksize: 4096, nlink: 2, uid: o.uid, gid: o.gid, mtime: t, atime: t, ctime: t };
}
