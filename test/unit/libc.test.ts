import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  allocatedRanges,
  flockExclusiveNonBlocking,
  flockUnlock,
  punchHole,
  seekData,
  seekHole,
  type LibcError,
} from '../../src/native/libc.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

let dir: string;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zonefuse-libc-'));
});

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function openFile(name: string): number {
  return fs.openSync(path.join(dir, name), 'w+');
}

function writeAt(fd: number, offset: number, length: number, byte: number): void {
  fs.writeSync(fd, Buffer.alloc(length, byte), 0, length, offset);
}

function catchErr(fn: () => unknown): LibcError {
  try {
    fn();
  } catch (e) {
    return e as LibcError;
  }
  throw new Error('expected a throw');
}

describe('punchHole', () => {
  it('frees blocks, reads back zeros, keeps the size', () => {
    const fd = openFile('punch');
    try {
      writeAt(fd, 0, 1 * MiB, 0xab);
      fs.fsyncSync(fd);
      const before = fs.fstatSync(fd);
      expect(before.blocks).toBeGreaterThanOrEqual((1 * MiB) / 512);

      punchHole(fd, 256 * KiB, 512 * KiB);

      const after = fs.fstatSync(fd);
      expect(after.size).toBe(1 * MiB);
      expect(before.blocks - after.blocks).toBe((512 * KiB) / 512);

      const buf = Buffer.alloc(1 * MiB);
      fs.readSync(fd, buf, 0, buf.length, 0);
      expect(buf.subarray(0, 256 * KiB).every((b) => b === 0xab)).toBe(true);
      expect(buf.subarray(256 * KiB, 768 * KiB).every((b) => b === 0)).toBe(true);
      expect(buf.subarray(768 * KiB).every((b) => b === 0xab)).toBe(true);
    } finally {
      fs.closeSync(fd);
    }
  });

  it('takes offsets beyond 2^32 (int64)', () => {
    const fd = openFile('punch-big');
    try {
      const base = 5 * GiB;
      writeAt(fd, base, 128 * KiB, 0x5a);
      fs.fsyncSync(fd);
      const before = fs.fstatSync(fd).blocks;
      punchHole(fd, base, 64 * KiB);
      expect(before - fs.fstatSync(fd).blocks).toBe((64 * KiB) / 512);
      expect(fs.fstatSync(fd).size).toBe(base + 128 * KiB);
      expect(allocatedRanges(fd, 0, base + 128 * KiB)).toEqual([[base + 64 * KiB, base + 128 * KiB]]);
    } finally {
      fs.closeSync(fd);
    }
  });

  it('throws an errno-shaped error', () => {
    const err = catchErr(() => punchHole(-1, 0, 4096));
    expect(err).toBeInstanceOf(Error);
    expect(err.code).toBe('EBADF');
    expect(err.errno).toBe(os.constants.errno.EBADF);
    expect(err.syscall).toBe('fallocate');
    expect(err.message).toMatch(/^EBADF: .*, fallocate$/);

    const fd = openFile('punch-einval');
    try {
      expect(catchErr(() => punchHole(fd, -4096, 4096)).code).toBe('EINVAL');
    } finally {
      fs.closeSync(fd);
    }
  });
});

describe('seekData / seekHole / allocatedRanges', () => {
  // Layout (4 MiB): hole [0,1M) data [1M,1M+64K) hole ... data [3M,3M+64K) hole to 4M.
  const size = 4 * MiB;
  let fd: number;

  beforeAll(() => {
    fd = openFile('sparse');
    fs.ftruncateSync(fd, size);
    writeAt(fd, 1 * MiB, 64 * KiB, 1);
    writeAt(fd, 3 * MiB, 64 * KiB, 2);
    fs.fsyncSync(fd);
  });

  afterAll(() => {
    fs.closeSync(fd);
  });

  it('finds data and holes', () => {
    expect(seekData(fd, 0)).toBe(1 * MiB);
    expect(seekData(fd, 1 * MiB + 4 * KiB)).toBe(1 * MiB + 4 * KiB);
    expect(seekHole(fd, 0)).toBe(0);
    expect(seekHole(fd, 1 * MiB)).toBe(1 * MiB + 64 * KiB);
    expect(seekData(fd, 1 * MiB + 64 * KiB)).toBe(3 * MiB);
    expect(seekHole(fd, 3 * MiB)).toBe(3 * MiB + 64 * KiB);
  });

  it('returns -1 when there is no data after the offset (ENXIO)', () => {
    expect(seekData(fd, 3 * MiB + 64 * KiB)).toBe(-1);
    expect(seekData(fd, size)).toBe(-1);
    expect(seekData(fd, 100 * GiB)).toBe(-1);
  });

  it('seekHole at or past EOF throws ENXIO; the implicit hole at EOF is reported', () => {
    expect(seekHole(fd, size - 1)).toBe(size - 1);
    const err = catchErr(() => seekHole(fd, size));
    expect(err.code).toBe('ENXIO');
    expect(err.errno).toBe(os.constants.errno.ENXIO);
  });

  it('allocatedRanges lists the data extents, clipped to [start, end)', () => {
    expect(allocatedRanges(fd, 0, size)).toEqual([
      [1 * MiB, 1 * MiB + 64 * KiB],
      [3 * MiB, 3 * MiB + 64 * KiB],
    ]);
    expect(allocatedRanges(fd, 1 * MiB + 16 * KiB, 3 * MiB + 32 * KiB)).toEqual([
      [1 * MiB + 16 * KiB, 1 * MiB + 64 * KiB],
      [3 * MiB, 3 * MiB + 32 * KiB],
    ]);
    expect(allocatedRanges(fd, 2 * MiB, 3 * MiB)).toEqual([]);
    expect(allocatedRanges(fd, 0, 100 * GiB)).toHaveLength(2);
    expect(allocatedRanges(fd, 5 * MiB, 6 * MiB)).toEqual([]);
  });

  it('a fully written file is one range; an empty file has none', () => {
    const full = openFile('full');
    const empty = openFile('empty');
    try {
      writeAt(full, 0, 256 * KiB, 7);
      fs.fsyncSync(full);
      expect(allocatedRanges(full, 0, 256 * KiB)).toEqual([[0, 256 * KiB]]);
      expect(allocatedRanges(empty, 0, MiB)).toEqual([]);
    } finally {
      fs.closeSync(full);
      fs.closeSync(empty);
    }
  });
});

describe('flock', () => {
  function waitForLine(child: ChildProcess, line: string): Promise<void> {
    return new Promise((resolve, reject) => {
      let out = '';
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes(line)) resolve();
      });
      child.on('exit', (code) => reject(new Error(`locker exited early (${code}): ${out}`)));
      child.on('error', reject);
    });
  }

  it('is exclusive against another process, and free again once it dies', async () => {
    const file = path.join(dir, 'lockfile');
    fs.writeFileSync(file, '');
    // flock(1) takes LOCK_EX on its own fd, then runs the command; `exec sleep` keeps that fd
    // open in a process we can kill. Own process group so that killing it releases everything.
    const child = spawn('flock', ['-x', file, '-c', 'echo locked; exec sleep 60'], {
      stdio: ['ignore', 'pipe', 'inherit'],
      detached: true,
    });
    const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
    const fd = fs.openSync(file, 'r+');
    try {
      await waitForLine(child, 'locked');
      expect(flockExclusiveNonBlocking(fd)).toBe(false);
      process.kill(-child.pid!, 'SIGKILL');
      await exited;
      // flock(1) exiting is seen first; its child (sleep, which shares the open file) may need a
      // moment longer to be torn down and drop the lock.
      let free = false;
      for (let i = 0; i < 100 && !free; i++) {
        free = flockExclusiveNonBlocking(fd);
        if (!free) await new Promise((r) => setTimeout(r, 20));
      }
      expect(free).toBe(true);
      flockUnlock(fd);
    } finally {
      if (child.exitCode === null && child.signalCode === null) process.kill(-child.pid!, 'SIGKILL');
      fs.closeSync(fd);
    }
  });

  it('conflicts between two open file descriptions in one process; unlock releases', () => {
    const file = path.join(dir, 'lockfile2');
    fs.writeFileSync(file, '');
    const a = fs.openSync(file, 'r+');
    const b = fs.openSync(file, 'r+');
    try {
      expect(flockExclusiveNonBlocking(a)).toBe(true);
      expect(flockExclusiveNonBlocking(a)).toBe(true); // re-locking the same description is fine
      expect(flockExclusiveNonBlocking(b)).toBe(false);
      flockUnlock(a);
      expect(flockExclusiveNonBlocking(b)).toBe(true);
      expect(flockExclusiveNonBlocking(a)).toBe(false);
      fs.closeSync(b); // closing the last fd of a description drops its lock
      expect(flockExclusiveNonBlocking(a)).toBe(true);
    } finally {
      fs.closeSync(a);
    }
  });

  it('reports EBADF', () => {
    expect(catchErr(() => flockExclusiveNonBlocking(-1)).code).toBe('EBADF');
    expect(catchErr(() => flockUnlock(-1)).code).toBe('EBADF');
  });
});
