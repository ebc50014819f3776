/**
 * What each FUSE backend needs from the machine (checked by `zonefuse doctor`, and the cheap part
 * by `zonefuse mount` before it loads the backend). This module loads no native code.
 */
import { createRequire } from 'node:module';
import type { Requirement } from '../system/requirements.js';
import { firstLine, missingSoname } from '../system/requirements.js';
import { explainLoadFailure, reinstallAdvice } from '../native/artifacts.js';
import { FUSE3_PIECE } from './libfuse3/addon.js';

/** The backend `zonefuse mount` uses when --fuse is not given. */
export const DEFAULT_BACKEND = 'fuse-native';

const LIBFUSE2: Requirement = { kind: 'library', soname: 'libfuse.so.2', apt: 'libfuse2', usedFor: 'the fuse-native backend' };

/**
 * fuse-native 2.2.6: a prebuilt Node-API binding (linux-x64) that links the system's libfuse 2.9.
 * libfuse2 mounts with auto_unmount through `fusermount` (and zonefuse unmounts stale mounts with
 * it); Debian's fuse3 package provides it as a link to fusermount3. It needs no kernel feature
 * beyond FUSE itself (it asks for direct_io and 128 KiB big_writes, both ancient).
 */
export const FUSE_NATIVE_REQUIREMENTS: readonly Requirement[] = [
  { kind: 'fuse-device' },
  { kind: 'kernel-fuse' },
  { kind: 'program', name: 'fusermount', apt: 'fuse3', usedFor: 'the fuse-native backend, for auto_unmount and unmount' },
  LIBFUSE2,
  {
    kind: 'native',
    name: 'fuse-native',
    usedFor: 'the fuse-native backend',
    load: async () => {
      await import('fuse-native');
      const version = (createRequire(import.meta.url)('fuse-native/package.json') as { version: string }).version;
      return `fuse-native ${version} binding loads (with libfuse.so.2)`;
    },
    explain: (e) => {
      if (missingSoname(e) === 'libfuse.so.2') return `its binding cannot load libfuse.so.2: apt install libfuse2`;
      if (/No native build was found/.test(e.message)) {
        return `no prebuilt binding for ${process.platform}-${process.arch} (fuse-native ships one for linux-x64 only)`;
      }
      return `its binding does not load (${firstLine(e)}): ${reinstallAdvice()}`;
    },
  },
];

/**
 * The libfuse3 backend: libfuse 3 (Debian 12: 3.14), `fusermount3` for auto_unmount, and the
 * kernel features it turns on: async direct I/O and 1 MiB requests, plus parallel direct writes
 * for several writers on one file.
 */
export const LIBFUSE3_REQUIREMENTS: readonly Requirement[] = [
  { kind: 'fuse-device' },
  { kind: 'kernel-fuse' },
  { kind: 'program', name: 'fusermount3', apt: 'fuse3', usedFor: 'the libfuse3 backend, for auto_unmount and unmount' },
  { kind: 'library', soname: 'libfuse3.so.3', apt: 'libfuse3-3', usedFor: 'the libfuse3 backend' },
  { kind: 'kernel-feature', feature: 'asyncDio', usedFor: 'the libfuse3 backend' },
  { kind: 'kernel-feature', feature: 'maxPages', usedFor: 'the libfuse3 backend' },
  { kind: 'kernel-feature', feature: 'parallelDirectWrites', usedFor: 'the libfuse3 backend' },
  {
    kind: 'native',
    name: 'zonefuse-fuse3',
    usedFor: 'the libfuse3 backend',
    load: async () => {
      const addon = (await import('./libfuse3/addon.js')).loadFuse3Addon();
      const v = addon.fuseVersion;
      return `native/fuse3 binding loads (built for libfuse ${Math.floor(v / 100)}.${v % 100})`;
    },
    explain: (e) => explainLoadFailure(FUSE3_PIECE, e, { 'libfuse3.so.3': 'libfuse3-3' }),
  },
];

export const BACKEND_REQUIREMENTS: Readonly<Record<string, readonly Requirement[]>> = {
  'fuse-native': FUSE_NATIVE_REQUIREMENTS,
  libfuse3: LIBFUSE3_REQUIREMENTS,
};
