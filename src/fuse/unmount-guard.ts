/**
 * A second line behind fusermount's auto_unmount. fusermount unmounts a dead daemon's mount
 * only if, at the moment the daemon's control socket closes, opening the mount point already
 * fails with ENOTCONN; the kernel aborts the connection when the daemon's /dev/fuse descriptor
 * closes, which can come a moment later in the same exit, and then fusermount leaves the dead
 * mount behind (seen here about one kill -9 in five, with fusermount3 and both bindings).
 *
 * The guard is a tiny shell process started before the mount exists, so it holds no FUSE
 * descriptor. It waits for EOF on a pipe whose other end only the daemon holds; then, for a few
 * seconds, it stats the mount point: a dead mount (ENOTCONN / ECONNABORTED) is removed with
 * `fusermount -u -z`; a directory that answers (unmounted cleanly, or a new daemon serves it)
 * ends the guard without touching anything.
 */
import { spawn } from 'node:child_process';
import type { Socket } from 'node:net';

const SCRIPT = `
mnt=$1
cat >/dev/null
i=0
while [ $i -lt 50 ]; do
  err=$(LC_ALL=C timeout 2 stat -- "$mnt" 2>&1 >/dev/null) && exit 0
  case $err in
    *"not connected"*|*"connection abort"*) exec fusermount -u -z -- "$mnt" ;;
  esac
  sleep 0.1
  i=$((i + 1))
done
`;

/** Start the guard for `mnt` (an absolute path); call before the FUSE mount is made. */
export function startUnmountGuard(mnt: string): void {
  const child = spawn('sh', ['-c', SCRIPT, 'zonefuse-unmount-guard', mnt], {
    stdio: ['pipe', 'ignore', 'ignore'],
    detached: true,
  });
  child.on('error', () => { /* no sh: fusermount's auto_unmount still works most of the time */ });
  // Neither the child nor its pipe may keep the daemon's event loop alive.
  child.unref();
  (child.stdin as Socket | null)?.unref();
}
