/**
 * Pre-images of overwrites made since the last flush (conventional space, and durable LBAs of
 * host-aware zones), for the volatile write cache: a power loss must undo them, and unlike
 * appends above the durable write pointer (simply discarded) an overwrite can only be undone
 * from a copy.
 *
 * `<name>.undo`, append-only, little-endian: per entry u64 offset, u32 length, u32 CRC-32 of the
 * data, then the data. Emptied at every flush. An entry is written before the overwrite it
 * covers; a torn last entry (its overwrite never happened) fails its CRC and is ignored.
 * File-system failures are thrown as BackingStoreError naming the file.
 */
import * as fs from 'node:fs';
import { crc32 } from 'node:zlib';
import { backingError } from './backing-error.js';
import { readFully, writeFully } from './io.js';
import { PRIVATE_FILE_MODE } from './paths.js';

const ENTRY_HEADER = 16;

export class UndoLog {
  private fd = -1;
  private size = 0;

  constructor(readonly path: string, private readonly dataPath: string) {}

  private open(): number {
    if (this.fd < 0) {
      try {
        this.fd = fs.openSync(this.path, fs.constants.O_RDWR | fs.constants.O_CREAT, PRIVATE_FILE_MODE);
        this.size = fs.fstatSync(this.fd).size;
      } catch (e) {
        throw backingError(this.path, 'write', e);
      }
    }
    return this.fd;
  }

  /** Save the bytes at [offset, offset+length) of the data file before they are overwritten. */
  save(dataFd: number, offset: number, length: number): void {
    const fd = this.open();
    const entry = Buffer.alloc(ENTRY_HEADER + length);
    try {
      readFully(dataFd, entry, ENTRY_HEADER, length, offset);
    } catch (e) {
      throw backingError(this.dataPath, 'read', e);
    }
    entry.writeBigUInt64LE(BigInt(offset), 0);
    entry.writeUInt32LE(length, 8);
    entry.writeUInt32LE(crc32(entry.subarray(ENTRY_HEADER)), 12);
    try {
      writeFully(fd, entry, 0, entry.length, this.size);
    } catch (e) {
      // A torn entry would hide every later one from replay: cut it off (shrinking needs no space).
      try {
        fs.ftruncateSync(fd, this.size);
      } catch {
        // Then it fails its CRC at replay and its overwrite, which is refused, never happens.
      }
      throw backingError(this.path, 'write', e);
    }
    this.size += entry.length;
  }

  /**
   * Restore every saved pre-image, newest first, then empty the log. `sync` runs between the two
   * so that a host crash cannot lose the restored data after the log is gone. With `keeps`, an
   * LBA (of `lbaSize` bytes, named by its byte offset) for which it returns true keeps its
   * newest write instead. Returns how many entries restored anything. On a failure the log is
   * kept whole, so that a later replay can finish the job.
   */
  replay(dataFd: number, sync?: () => void, keeps?: (lbaOffset: number) => boolean, lbaSize = 512): number {
    if (this.fd < 0 && !fs.existsSync(this.path)) return 0;
    const fd = this.open();
    const all = Buffer.alloc(this.size);
    try {
      readFully(fd, all, 0, this.size, 0);
    } catch (e) {
      throw backingError(this.path, 'read', e);
    }
    const entries: Array<[number, Buffer]> = [];
    for (let at = 0; at + ENTRY_HEADER <= all.length;) {
      const offset = Number(all.readBigUInt64LE(at));
      const len = all.readUInt32LE(at + 8);
      const data = all.subarray(at + ENTRY_HEADER, at + ENTRY_HEADER + len);
      if (data.length < len || crc32(data) !== all.readUInt32LE(at + 12)) break;
      entries.push([offset, data]);
      at += ENTRY_HEADER + len;
    }
    let restored = 0;
    try {
      for (let i = entries.length - 1; i >= 0; i--) {
        const [offset, data] = entries[i]!;
        if (!keeps) {
          writeFully(dataFd, data, 0, data.length, offset);
          restored++;
          continue;
        }
        let any = false;
        for (let pos = offset; pos < offset + data.length;) {
          const lbaStart = pos - (pos % lbaSize);
          const end = Math.min(offset + data.length, lbaStart + lbaSize);
          if (!keeps(lbaStart)) {
            writeFully(dataFd, data, pos - offset, end - pos, pos);
            any = true;
          }
          pos = end;
        }
        if (any) restored++;
      }
    } catch (e) {
      throw backingError(this.dataPath, 'write', e);
    }
    if (restored > 0) sync?.();
    this.clear();
    return restored;
  }

  clear(): void {
    if (this.fd < 0 && !fs.existsSync(this.path)) return;
    try {
      fs.ftruncateSync(this.open(), 0);
    } catch (e) {
      throw backingError(this.path, 'truncate', e);
    }
    this.size = 0;
  }

  close(): void {
    if (this.fd >= 0) fs.closeSync(this.fd);
    this.fd = -1;
  }
}
