/**
 * What a CLI path argument names: a store directory or the mount point of a zonefuse mount,
 * and whether a running daemon serves that store.
 */
import * as path from 'node:path';
import { MountEntry, findMount, listMounts, storeOfMount } from '../fuse/mounts.js';
import { listNamespaces } from '../store/store.js';

export interface Target {
  storeDir: string;
  /** The live zonefuse mount serving this store, if any. */
  mount: MountEntry | undefined;
}

export class CliError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CliError';
  }
}

export function resolveTarget(arg: string): Target {
  const abs = path.resolve(arg);
  const m = findMount(abs);
  if (m) {
    const store = storeOfMount(m);
    if (m.type !== 'fuse.zonefuse' || !store) throw new CliError(`${abs} is a ${m.type} mount, not a zonefuse mount`);
    return { storeDir: store, mount: m };
  }
  const served = listMounts().find((x) => x.type === 'fuse.zonefuse' && storeOfMount(x) === abs);
  return { storeDir: abs, mount: served };
}

/** The namespace to act on: --ns, or the store's only one. */
export function pickNamespace(storeDir: string, ns: string | undefined): string {
  const names = listNamespaces(storeDir);
  if (ns !== undefined) {
    if (!names.includes(ns)) throw new CliError(`store ${storeDir} has no namespace ${ns} (it has: ${names.join(', ') || 'none'})`);
    return ns;
  }
  if (names.length === 1) return names[0]!;
  if (names.length === 0) throw new CliError(`store ${storeDir} has no namespaces`);
  throw new CliError(`store ${storeDir} has several namespaces (${names.join(', ')}): choose one with --ns`);
}
