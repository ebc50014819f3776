/**
 * A scripted sequence of file operations run by one python3 process, so that several
 * descriptors stay open across steps (a staged partial LBA lives as long as its descriptor).
 * Each step reports the errno it got (0 = success) and, for reads and fstat, what it saw.
 */
import { spawnSync } from 'node:child_process';

export type FileOp =
  /** Open `path` as descriptor number `fd` (flags: direct, rdwr, rdonly, append). */
  | { op: 'open'; fd: number; path: string; flags?: ('direct' | 'rdwr' | 'rdonly' | 'append')[] }
  /**
   * pwrite `len` bytes of value `byte` (or the UTF-8 `text`) at `off`, or write() at the file
   * offset when off is omitted.
   */
  | { op: 'write'; fd: number; off?: number; len: number; byte: number }
  | { op: 'write'; fd: number; off?: number; text: string }
  /** pread `len` bytes at `off`; `value` is the bytes as hex. */
  | { op: 'read'; fd: number; off: number; len: number }
  | { op: 'fsync'; fd: number }
  | { op: 'close'; fd: number }
  /** fstat: `value` is st_size (FUSE asks by path: what every handle sees). */
  | { op: 'fstat'; fd: number }
  /** lseek(fd, 0, SEEK_END): `value` is the size as this handle sees it (FUSE asks with the handle). */
  | { op: 'seekend'; fd: number };

export interface FileOpResult {
  errno: number;
  /** Bytes written or read, st_size, or the hex of the bytes read. */
  value?: number | string;
}

const SCRIPT = String.raw`
import json, mmap, os, sys
ops = json.loads(sys.argv[1])
fds, direct, out = {}, {}, []
def buffer(n, byte, aligned):
    if not aligned:
        return bytes([byte]) * n
    m = mmap.mmap(-1, max(4096, (n + 4095) // 4096 * 4096))
    m.write(bytes([byte]) * n)
    return memoryview(m)[:n]
for o in ops:
    r = {"errno": 0}
    try:
        k = o["op"]; fd = fds.get(o["fd"])
        if k == "open":
            fl = o.get("flags", [])
            f = os.O_RDWR if "rdwr" in fl else os.O_RDONLY if "rdonly" in fl else os.O_WRONLY
            if "direct" in fl: f |= os.O_DIRECT
            if "append" in fl: f |= os.O_APPEND
            fds[o["fd"]] = os.open(o["path"], f); direct[o["fd"]] = "direct" in fl
        elif k == "write":
            b = o["text"].encode() if "text" in o else buffer(o["len"], o["byte"], direct[o["fd"]])
            r["value"] = os.pwrite(fd, b, o["off"]) if "off" in o else os.write(fd, b)
        elif k == "read":
            if direct[o["fd"]]:
                m = mmap.mmap(-1, max(4096, (o["len"] + 4095) // 4096 * 4096))
                n = os.preadv(fd, [memoryview(m)[:o["len"]]], o["off"])
                r["value"] = bytes(m[:n]).hex()
            else:
                r["value"] = os.pread(fd, o["len"], o["off"]).hex()
        elif k == "fsync":
            os.fsync(fd)
        elif k == "close":
            del fds[o["fd"]]; os.close(fd)
        elif k == "fstat":
            r["value"] = os.fstat(fd).st_size
        elif k == "seekend":
            r["value"] = os.lseek(fd, 0, os.SEEK_END)
    except OSError as e:
        r["errno"] = e.errno
    out.append(r)
for fd in fds.values():
    try: os.close(fd)
    except OSError: pass
print(json.dumps(out))
`;

export function fileOps(ops: FileOp[]): FileOpResult[] {
  const r = spawnSync('python3', ['-c', SCRIPT, JSON.stringify(ops)], { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`file ops failed (${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout) as FileOpResult[];
}

/** Linux errno numbers the tests expect. */
export const ERRNO = { EPERM: 1, EIO: 5, EBADF: 9, EACCES: 13, EFBIG: 27, EINVAL: 22, ENOSPC: 28, EOVERFLOW: 75, ETOOMANYREFS: 109 } as const;
