/**
 * What a CLI path argument names: a store directory or the mount point of a zonefuse mount,
 * and whether a running daemon serves that store.
 */
import * as path from 'node:path';
import { MountEntry, findMount, listMounts, storeOfMount } from '../fuse/mounts.js';
import { listNamespaces, namespaceNameProblem } from '../store/store.js';

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

/**
 * The store's rule for namespace names, applied before a command chooses between the mounted
 * path (a ctl line, where an empty name or one with spaces would change the command's meaning)
 * and the unmounted one, so both refuse the same names with the same message.
 */
export function checkNamespaceName(name: string): void {
  const problem = namespaceNameProblem(name);
  if (problem) throw new CliError(`invalid namespace name ${JSON.stringify(name)}: ${problem}`);
}

/** A ctl command from CLI arguments is one line: a newline would smuggle in a second command. */
export function checkOneLine(line: string): void {
  if (/[\r\n]/.test(line)) throw new CliError(`${JSON.stringify(line)}: arguments must not contain line breaks (one command at a time)`);
}

/** The namespace to act on: --ns, or the store's only one. */
export function pickNamespace(storeDir: string, ns: string | undefined): string {
  const names = listNamespaces(storeDir);
  if (ns !== undefined) {
    checkNamespaceName(ns);
    if (!names.includes(ns)) throw new CliError(`store ${storeDir} has no namespace ${ns} (it has: ${names.join(', ') || 'none'})`);
    return ns;
  }
  if (names.length === 1) return names[0]!;
  if (names.length === 0) throw new CliError(`store ${storeDir} has no namespaces`);
  throw new CliError(`store ${storeDir} has several namespaces (${names.join(', ')}): choose one with --ns`);
}
