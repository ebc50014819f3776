/**
 * The seam between the file semantics (src/vfs/) and a FUSE binding. Each backend is a thin
 * adapter that turns its binding's requests into ZoneFs calls; both give identical semantics
 * (PRODUCT.md §9). Loading this module loads no native code: a backend's binding is imported
 * only when it is chosen.
 */
import type { ZoneFs } from '../vfs/zone-fs.js';
import type { Logger } from '../log.js';
import { DEFAULT_BACKEND } from './requirements.js';

export { DEFAULT_BACKEND } from './requirements.js';

export const BACKEND_NAMES = ['fuse-native', 'libfuse3'] as const;
export type BackendName = (typeof BACKEND_NAMES)[number];

export interface BackendMountOptions {
  /** A fusermount helper removes the mount if the daemon dies (kill -9). Default true. */
  autoUnmount?: boolean;
  /**
   * Let users other than the one who mounted in (-o allow_other), with the kernel enforcing the
   * modes the vfs reports (-o default_permissions): data read-only to them, every ctl writable by
   * its owner only. Default false: nobody else can open anything under the mount.
   */
  allowOther?: boolean;
}

export interface MountHandle {
  readonly mountpoint: string;
  /** The backend serving the mount. */
  readonly backend: BackendName;
  /** Unmount (idempotent); requests still in flight get EIO. */
  unmount(): Promise<void>;
}

export interface FuseBackend {
  readonly name: BackendName;
  /** Mount `zfs` at `mnt` and resolve once the kernel can send requests. */
  mount(zfs: ZoneFs, mnt: string, storeDir: string, log: Logger, opts?: BackendMountOptions): Promise<MountHandle>;
}

export function isBackendName(s: string): s is BackendName {
  return (BACKEND_NAMES as readonly string[]).includes(s);
}

/** The backend called `name` (its binding is loaded now). */
export async function loadFuseBackend(name: BackendName = DEFAULT_BACKEND as BackendName): Promise<FuseBackend> {
  switch (name) {
    case 'fuse-native':
      return (await import('./serve.js')).fuseNativeBackend;
    case 'libfuse3':
      return (await import('./libfuse3/backend.js')).libfuse3Backend;
  }
}
