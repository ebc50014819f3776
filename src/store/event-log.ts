/**
 * `<name>.events` (docs/format.md §1.2): the device's own zone changes, one text line each,
 * appended as they happen. The mount serves it as the `events` control file. Lines are
 * appended after the zone records they describe are written, so a crash can lose the last line
 * but never leaves a line for a change that did not happen; a torn last line is cut off at the
 * next read-write open.
 */
import * as fs from 'node:fs';
import { readFully } from './io.js';
import { PRIVATE_FILE_MODE } from './paths.js';

export class EventLog {
  private fd = -1;
  private bytes = 0;
  /** When the last line was appended (ms since the epoch; 0 = not since open). */
  lastAppend = 0;
  private readonly listeners = new Set<() => void>();

  constructor(readonly path: string, private readonly readOnly: boolean) {
    try {
      this.bytes = fs.statSync(path).size;
    } catch {
      this.bytes = 0;
    }
    if (!readOnly && this.bytes > 0) this.dropTornLine();
  }

  /** Bytes in the log (the events file's size). */
  get size(): number {
    return this.bytes;
  }

  append(lines: string[]): void {
    if (lines.length === 0) return;
    if (this.readOnly) throw new Error(`${this.path}: the namespace is open read-only`);
    if (this.fd < 0) this.fd = fs.openSync(this.path, 'a+', PRIVATE_FILE_MODE);
    const buf = Buffer.from(lines.map((l) => l + '\n').join(''), 'utf8');
    let done = 0;
    while (done < buf.length) done += fs.writeSync(this.fd, buf, done, buf.length - done);
    this.bytes += buf.length;
    this.lastAppend = Date.now();
    for (const l of this.listeners) l();
  }

  /** Read up to `len` bytes at `offset` into buf[at..]; returns the count (0 at the end). */
  read(offset: number, buf: Uint8Array, at: number, len: number): number {
    const n = Math.max(0, Math.min(len, this.bytes - offset));
    if (n === 0) return 0;
    if (this.fd < 0) this.fd = fs.openSync(this.path, this.readOnly ? 'r' : 'a+', PRIVATE_FILE_MODE);
    readFully(this.fd, buf, at, n, offset);
    return n;
  }

  /** The whole log as text. */
  text(): string {
    const buf = Buffer.alloc(this.bytes);
    this.read(0, buf, 0, buf.length);
    return buf.toString('utf8');
  }

  /** Call `fn` after every append; returns the function that stops it. */
  onAppend(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  close(): void {
    if (this.fd >= 0) fs.closeSync(this.fd);
    this.fd = -1;
    this.listeners.clear();
  }

  private dropTornLine(): void {
    const fd = fs.openSync(this.path, 'r+');
    try {
      const tail = Buffer.alloc(Math.min(this.bytes, 4096));
      readFully(fd, tail, 0, tail.length, this.bytes - tail.length);
      if (tail[tail.length - 1] === 0x0a) return;
      const nl = tail.lastIndexOf(0x0a);
      const keep = nl >= 0 ? this.bytes - tail.length + nl + 1 : this.bytes - tail.length;
      fs.ftruncateSync(fd, keep);
      this.bytes = keep;
    } finally {
      fs.closeSync(fd);
    }
  }
}
