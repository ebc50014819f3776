/**
 * What every generated control file shares, per namespace or top-level: `ctl` is write-only and
 * takes commands, the others are read-only snapshots taken at open (like procfs, size 0).
 */
import { Attr, Owner, fileAttr } from './attr.js';
import { Handle, openControl, readSnapshot } from './node.js';
import { E } from './errno.js';

export abstract class GeneratedFile {
  readonly holdsData = false;

  constructor(protected readonly owner: Owner, readonly name: string) {}

  /** The text a read-only file shows. */
  abstract snapshot(): string | Buffer;
  /** Run the commands written to `ctl`: bytes taken, or -errno. */
  protected abstract writeCommands(buf: Buffer, len: number): number;
  protected abstract mtime(): number;

  private get isCtl(): boolean {
    return this.name === 'ctl';
  }

  attr(): Attr {
    return fileAttr(this.owner, this.isCtl ? 0o200 : 0o444, 0, 0, 4096, this.mtime());
  }

  open(h: Handle): number {
    return openControl(h, this.isCtl, this);
  }

  readdir(): number {
    return -E.ENOTDIR;
  }

  read(h: Handle, buf: Buffer, len: number, pos: number): number {
    return readSnapshot(h, buf, len, pos);
  }

  write(_h: Handle, buf: Buffer, len: number): number {
    return this.isCtl ? this.writeCommands(buf, len) : -E.EBADF;
  }

  /** `echo cmd > ctl` opens with O_TRUNC; there is nothing to truncate. */
  truncate(): number {
    return this.isCtl ? 0 : -E.EACCES;
  }
}
