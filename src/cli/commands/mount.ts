import * as fs from 'node:fs';
import * as path from 'node:path';
import { createLogger, LogLevel } from '../../log.js';
import { Store, createNamespace, listNamespaces } from '../../store/store.js';
import { ZoneFs } from '../../vfs/zone-fs.js';
import { findMount } from '../../fuse/mounts.js';
import type { FuseBackend, MountHandle } from '../../fuse/backend.js';
import { defaultStoreDir } from '../args.js';
import { CliError } from '../target.js';

/**
 * Foreground daemon. Ends on SIGINT/SIGTERM/SIGHUP, on `zonefuse umount`, or when the mount is
 * removed from outside (fusermount -u): each way it commits staged data, unmounts and closes
 * the store cleanly.
 */
export async function mountCommand(paths: string[], flags: { logLevel: LogLevel; autoUnmount: boolean; allowOther?: boolean; backend: FuseBackend; trace?: string; traceLimit?: number }): Promise<void> {
  if (paths.length > 2) throw new CliError(`mount takes [store] <mountpoint>, got ${paths.length} paths`);
  const [a, b] = paths as [string, string | undefined];
  const log = createLogger(flags.logLevel);
  let storeDir: string;
  let mnt: string;
  if (b === undefined) {
    storeDir = defaultStoreDir();
    mnt = path.resolve(a);
    if (!fs.existsSync(storeDir) || listNamespaces(storeDir).length === 0) {
      const { name } = createNamespace(storeDir, {});
      log.info({ store: storeDir, ns: name }, `created the default store at ${storeDir}`);
    }
  } else {
    storeDir = path.resolve(a);
    mnt = path.resolve(b);
    if (!fs.existsSync(storeDir)) throw new CliError(`store ${storeDir} does not exist (create it with: zonefuse create ${a})`);
  }

  // The owner record names the backend: `zonefuse info` reports it from there.
  const store = Store.open(storeDir, { logger: log, command: `zonefuse mount --fuse ${flags.backend.name} ${mnt}` });
  if (flags.trace !== undefined) {
    // The namespaces attached now; each trace ends when its namespace closes (at unmount).
    const dir = path.resolve(flags.trace);
    try {
      for (const ns of store.attached()) ns.startTrace(dir, flags.traceLimit);
    } catch (e) {
      store.close();
      throw new CliError(`--trace ${dir}: ${(e as Error).message}`);
    }
    log.info({ dir }, `recording device-level operations into ${dir}`);
  }
  let zfs: ZoneFs;
  let handle: MountHandle;
  try {
    zfs = new ZoneFs(store, log);
    handle = await flags.backend.mount(zfs, mnt, storeDir, log, { autoUnmount: flags.autoUnmount, allowOther: flags.allowOther === true });
  } catch (e) {
    store.close();
    throw e;
  }
  const names = zfs.namespaces().map((n) => n.name);
  log.info({ store: storeDir, mountpoint: mnt, namespaces: names, fuse: handle.backend }, `serving ${names.join(', ')} from ${storeDir} at ${mnt} (${handle.backend})`);

  let stopping = false;
  const stop = async (reason: string, code = 0): Promise<void> => {
    if (stopping) return;
    stopping = true;
    clearInterval(watch);
    log.info({ reason }, `stopping: ${reason}`);
    let exit = code;
    try {
      zfs.commitAll();
      await handle.unmount();
      store.close();
      log.info({ store: storeDir }, 'unmounted; zone state saved');
    } catch (e) {
      log.error({ err: e }, 'shutdown failed');
      exit = 1;
    }
    process.exit(exit);
  };
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, () => void stop(sig));
  process.on('uncaughtException', (e) => {
    log.fatal({ err: e }, 'internal error');
    void stop('internal error', 1);
  });
  // fusermount -u from another shell ends the FUSE session without telling us.
  const watch = setInterval(() => {
    if (!findMount(mnt)) void stop('the mount point was unmounted externally');
  }, 500);
}
