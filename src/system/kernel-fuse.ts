/**
 * The kernel's FUSE protocol features that zonefuse's backends use, and how to tell whether the
 * running kernel offers them.
 *
 * The kernel announces its protocol version and capability flags only in the INIT request of a
 * new FUSE connection, so there is nothing to read without a mount. Two sources, best first:
 * - `probeKernelInit()` (kernel-init-probe.ts): as root, a throw-away mount in a private temp
 *   directory whose INIT request is read and then aborted (exact);
 * - the kernel release against the mainline version that introduced each feature (an estimate:
 *   stable and distribution kernels sometimes carry features back to older releases).
 */
import * as os from 'node:os';
import { kernelVersion } from './probe.js';

export interface KernelFuseFeature {
  /** Its name in <linux/fuse.h>. */
  flag: string;
  /** What it gives, e.g. '1 MiB requests'. */
  what: string;
  /** FUSE protocol minor version (7.x) that introduced it. */
  minor: number;
  /** INIT flag bit the kernel sets when it offers the feature, if it is an INIT flag. */
  initFlag?: number;
  /** First mainline Linux release with it. */
  linux: [number, number];
}

/** The features zonefuse's backends make use of (<linux/fuse.h>). */
export const KERNEL_FUSE_FEATURES = {
  asyncDio: { flag: 'FUSE_ASYNC_DIO', what: 'async direct I/O', minor: 22, initFlag: 1 << 15, linux: [3, 10] },
  maxPages: { flag: 'FUSE_MAX_PAGES', what: '1 MiB requests', minor: 28, initFlag: 1 << 22, linux: [4, 20] },
  parallelDirectWrites: { flag: 'FOPEN_PARALLEL_DIRECT_WRITES', what: 'parallel direct writes to one file', minor: 38, linux: [6, 2] },
} satisfies Record<string, KernelFuseFeature>;

export type KernelFuseFeatureName = keyof typeof KERNEL_FUSE_FEATURES;

export interface KernelFuseInfo {
  /** 'INIT' when read from a real INIT request, 'release' when estimated from the kernel release. */
  source: 'INIT' | 'release';
  /** Protocol minor version (exact from INIT; undefined from the release). */
  minor?: number;
  /** INIT flags (from INIT only). */
  flags?: number;
  release: string;
  /** Why the INIT request was not read, when source is 'release'. */
  unprobed?: string;
}

/** Whether the kernel described by `info` offers `feature`. */
export function offers(info: KernelFuseInfo, feature: KernelFuseFeatureName): boolean {
  const f: KernelFuseFeature = KERNEL_FUSE_FEATURES[feature];
  if (info.source === 'INIT') {
    if (f.initFlag !== undefined && info.flags !== undefined) return (info.flags & f.initFlag) !== 0;
    return (info.minor ?? 0) >= f.minor;
  }
  const v = kernelVersion(info.release);
  if (!v) return false;
  return v[0] > f.linux[0] || (v[0] === f.linux[0] && v[1] >= f.linux[1]);
}

/** The estimate from the kernel release alone. */
export function kernelFuseFromRelease(unprobed: string, release = os.release()): KernelFuseInfo {
  return { source: 'release', release, unprobed };
}
