/**
 * Reading the FUSE protocol version and capability flags the running kernel offers, exactly.
 *
 * The kernel says what it supports only in the INIT request it sends on a new connection. As
 * root, this mounts an empty FUSE file system on a private temporary directory with mount(2)
 * (fd=, as libfuse does), reads the queued INIT request from /dev/fuse without answering it,
 * then detaches the mount and closes the device, which aborts the connection. The mount exists
 * for about a millisecond and nothing ever enters it. Without root (or without CAP_SYS_ADMIN)
 * mount(2) is refused and the caller falls back to judging by the kernel release.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { KernelFuseInfo, kernelFuseFromRelease } from './kernel-fuse.js';

const MS_RDONLY = 1;
const MS_NOSUID = 2;
const MS_NODEV = 4;
const MNT_DETACH = 2;
const FUSE_INIT = 26;
/** fuse_in_header is 40 bytes; fuse_init_in starts with major, minor, max_readahead, flags, flags2. */
const IN_HEADER = 40;
/** The kernel refuses reads smaller than header + fuse_write_in + max_write. */
const READ_BUFFER = (1 << 20) + (64 << 10);

export async function probeKernelInit(): Promise<KernelFuseInfo> {
  const koffi = (await import('koffi')).default;
  const libc = koffi.load('libc.so.6');
  const mount = libc.func('int mount(const char *source, const char *target, const char *fstype, unsigned long flags, const char *data)');
  const umount2 = libc.func('int umount2(const char *target, int flags)');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zonefuse-doctor-'));
  const fd = fs.openSync('/dev/fuse', fs.constants.O_RDWR | fs.constants.O_NONBLOCK);
  try {
    const data = `fd=${fd},rootmode=40000,user_id=${process.getuid?.() ?? 0},group_id=${process.getgid?.() ?? 0}`;
    if (mount('zonefuse-doctor', dir, 'fuse.zonefuse-doctor', MS_RDONLY | MS_NOSUID | MS_NODEV, data) !== 0) {
      const errno = koffi.errno();
      const name = Object.entries(os.constants.errno).find(([, v]) => v === errno)?.[0] ?? `errno ${errno}`;
      throw new Error(`mount(2) failed with ${name}`);
    }
    try {
      const buf = Buffer.alloc(READ_BUFFER);
      const n = fs.readSync(fd, buf, 0, buf.length, null);
      if (n < IN_HEADER + 16 || buf.readUInt32LE(4) !== FUSE_INIT) throw new Error('the first request was not INIT');
      const major = buf.readUInt32LE(IN_HEADER);
      if (major !== 7) throw new Error(`FUSE protocol major version ${major}`);
      return {
        source: 'INIT',
        minor: buf.readUInt32LE(IN_HEADER + 4),
        flags: buf.readUInt32LE(IN_HEADER + 12),
        release: os.release(),
      };
    } finally {
      umount2(dir, MNT_DETACH);
    }
  } finally {
    fs.closeSync(fd);
    try {
      fs.rmdirSync(dir);
    } catch {
      // still a mount point if umount2 failed; never remove anything recursively here
    }
  }
}

/** The exact INIT answer when `probe` is set and this process may mount; the release estimate otherwise. */
export async function kernelFuseInfo(opts: { probe: boolean }): Promise<KernelFuseInfo> {
  if (!opts.probe) return kernelFuseFromRelease('--no-probe');
  if (process.getuid?.() !== 0) return kernelFuseFromRelease('reading it needs root');
  try {
    return await probeKernelInit();
  } catch (e) {
    // not allowed to mount here (no CAP_SYS_ADMIN), or no usable FUSE: judged by the release
    return kernelFuseFromRelease(`the probe mount failed: ${(e as Error).message}`);
  }
}
