import * as fs from 'node:fs';
import * as path from 'node:path';
import { findMount, fusermountLazy, storeOfMount } from '../../fuse/mounts.js';
import { StoreLock } from '../../store/lock.js';
import { CliError } from '../target.js';

/** Running, and not a zombie waiting for its parent to reap it. */
function alive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Ask the daemon serving MNT to unmount and save state (SIGTERM), and wait for it. */
export async function umountCommand(mountpoint: string, flags: { timeout: number }): Promise<void> {
  const mnt = path.resolve(mountpoint);
  const m = findMount(mnt);
  if (!m) throw new CliError(`${mnt} is not mounted`);
  const store = storeOfMount(m);
  if (m.type !== 'fuse.zonefuse' || !store) throw new CliError(`${mnt} is a ${m.type} mount, not a zonefuse mount`);
  const owner = StoreLock.owner(store);
  if (!owner || owner.pid <= 0 || !alive(owner.pid)) {
    fusermountLazy(mnt);
    process.stdout.write(`removed stale mount ${mnt} (no daemon was serving it)\n`);
    return;
  }
  process.kill(owner.pid, 'SIGTERM');
  const deadline = Date.now() + flags.timeout * 1000;
  while (Date.now() < deadline) {
    if (!findMount(mnt) && !alive(owner.pid)) {
      process.stdout.write(`unmounted ${mnt}; state of ${store} saved\n`);
      return;
    }
    await sleep(50);
  }
  throw new CliError(`daemon pid ${owner.pid} did not finish unmounting ${mnt} within ${flags.timeout} s`);
}
