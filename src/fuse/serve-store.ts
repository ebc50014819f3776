/**
 * Serving a store from a program (the library's counterpart of `zonefuse mount`): open the store,
 * mount it with the chosen FUSE backend, and on unmount run held writes, commit staged data and
 * close the store. The serving process must not itself use the mount synchronously (its own
 * requests would wait for the thread that has to answer them): drive it from other processes.
 */
import * as path from 'node:path';
import { Store } from '../store/store.js';
import { ZoneFs } from '../vfs/zone-fs.js';
import { Logger, silentLogger } from '../log.js';
import { BackendName, DEFAULT_BACKEND, MountHandle, loadFuseBackend } from './backend.js';

export interface ServeOptions {
  /** FUSE binding: 'fuse-native' (default) or 'libfuse3'. */
  fuse?: BackendName;
  /** Remove the mount if the process dies (default true). */
  autoUnmount?: boolean;
  /** Let other users use the mount (-o allow_other). */
  allowOther?: boolean;
  logger?: Logger;
}

export interface ServedStore extends MountHandle {
  readonly storeDir: string;
}

export async function serveStore(storeDir: string, mountpoint: string, opts: ServeOptions = {}): Promise<ServedStore> {
  const log = opts.logger ?? silentLogger;
  const dir = path.resolve(storeDir);
  const backend = await loadFuseBackend(opts.fuse ?? (DEFAULT_BACKEND as BackendName));
  const store = Store.open(dir, { logger: log, command: `zonefuse library serveStore --fuse ${backend.name} ${path.resolve(mountpoint)}` });
  let zfs: ZoneFs;
  let handle: MountHandle;
  try {
    zfs = new ZoneFs(store, log);
    handle = await backend.mount(zfs, mountpoint, dir, log, {
      ...(opts.autoUnmount === undefined ? {} : { autoUnmount: opts.autoUnmount }),
      ...(opts.allowOther === undefined ? {} : { allowOther: opts.allowOther }),
    });
  } catch (e) {
    store.close();
    throw e;
  }
  let open = true;
  return {
    storeDir: dir,
    mountpoint: handle.mountpoint,
    backend: handle.backend,
    async unmount(): Promise<void> {
      if (!open) return;
      open = false;
      zfs.commitAll();
      await handle.unmount();
      store.close();
    },
  };
}
