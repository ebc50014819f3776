/**
 * A store: a directory of namespaces (PRODUCT.md §1), owned by one process at a time.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Geometry, resolveGeometry } from '../engine/geometry.js';
import { Logger, silentLogger } from '../log.js';
import { StoreLock } from './lock.js';
import { CreateOptions, DATA_SUFFIX, META_SUFFIX, StoredNamespace, namespacePaths, fsyncDir } from './stored-namespace.js';
import { Flag, Header } from './format.js';

export const DEFAULT_NAMESPACE = 'nvme0n1';
const NAME_RE = /^[A-Za-z0-9_][A-Za-z0-9_.+-]{0,62}$/;

/** Names that would collide with the mount's own files. */
const RESERVED_NAMES = new Set(['ctl', 'info', 'errors', 'report', 'namespaces']);

/** Why a namespace name is unusable, or undefined when it is fine. */
export function namespaceNameProblem(name: string): string | undefined {
  if (name.length === 0) return 'the name is empty';
  if (name.length > 63) return `the name is ${name.length} characters long; at most 63 are allowed`;
  if (name.includes('/')) return 'the name contains "/"';
  if (name === '.' || name === '..') return `"${name}" names a directory`;
  if (name.includes('..')) return 'the name contains ".."';
  if (!NAME_RE.test(name)) return 'use letters, digits and _ . + - only, not starting with . + or -';
  if (name.endsWith('.zones') || name.endsWith(META_SUFFIX) || name.endsWith(DATA_SUFFIX) || name.endsWith('.tmp')) {
    return 'the name must not end in .zones, .zmeta, .data or .tmp';
  }
  if (RESERVED_NAMES.has(name)) return `"${name}" is reserved for a control file`;
  return undefined;
}

export class StoreError extends Error {
  /** The errno a file interface answers with. */
  readonly code: 'EINVAL' | 'EEXIST' | 'ENOENT' | 'EBUSY';
  constructor(message: string, code: StoreError['code'] = 'EINVAL') {
    super(message);
    this.name = 'StoreError';
    this.code = code;
  }
}

/** Names of the namespaces in a store directory (those with a sidecar). */
export function listNamespaces(dir: string): string[] {
  let entries: string[];
  try {
    entries = fs.readdirSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new StoreError(`store ${dir} does not exist`);
    throw e;
  }
  return entries
    .filter((f) => f.endsWith(META_SUFFIX))
    .map((f) => f.slice(0, -META_SUFFIX.length))
    .sort(compareNames);
}

/** nvme0n2 before nvme0n10. */
function compareNames(a: string, b: string): number {
  return a.localeCompare(b, 'en', { numeric: true });
}

export function nextNamespaceName(dir: string): string {
  const taken = new Set(fs.existsSync(dir) ? listNamespaces(dir) : []);
  for (let i = 1; ; i++) if (!taken.has(`nvme0n${i}`)) return `nvme0n${i}`;
}

export interface CreateNamespaceOptions extends CreateOptions {
  name?: string;
}

/** Refuse a name that is invalid or already taken in `dir` (StoreError with the errno code). */
function checkNewName(dir: string, name: string, taken = false): void {
  const problem = namespaceNameProblem(name);
  if (problem) throw new StoreError(`invalid namespace name ${JSON.stringify(name)}: ${problem}`);
  if (taken || fs.existsSync(namespacePaths(dir, name).meta)) {
    throw new StoreError(`namespace ${name} already exists in store ${dir}`, 'EEXIST');
  }
}

/**
 * Create a namespace in a store directory (created if missing). Refuses an existing name. The
 * store must not be in use by another process.
 */
export function createNamespace(dir: string, geometry: Partial<Geometry>, opts: CreateNamespaceOptions = {}): { name: string } {
  // Everything that can be refused is checked before anything is written.
  const g = resolveGeometry(geometry);
  const name = opts.name ?? nextNamespaceName(dir);
  const problem = namespaceNameProblem(name);
  if (problem) throw new StoreError(`invalid namespace name ${JSON.stringify(name)}: ${problem}`);
  const made = !fs.existsSync(dir);
  fs.mkdirSync(dir, { recursive: true });
  let lock: StoreLock | undefined;
  try {
    lock = StoreLock.acquire(dir, `zonefuse create ${name}`);
    checkNewName(dir, name);
    StoredNamespace.create(dir, name, g, opts);
  } catch (e) {
    lock?.release();
    lock = undefined;
    // Leave no half-made store behind: remove the directory if this call created it.
    if (made) fs.rmSync(dir, { recursive: true, force: true });
    throw e;
  } finally {
    lock?.release();
  }
  return { name };
}

export interface StoreOpenOptions {
  logger?: Logger;
  /** What the owner is doing, recorded in the lock for error messages. */
  command?: string;
  /** Per-namespace geometry expectations. */
  expect?: Record<string, Partial<Geometry>>;
}

/** A namespace of an open store, attached (open) or detached (closed, files kept). */
export interface NamespaceEntry {
  name: string;
  attached: boolean;
  header: Header;
}

/**
 * An open store: the lock plus its namespaces. Attached namespaces are open; detached ones stay
 * closed on disk until attached again.
 */
export class Store {
  readonly dir: string;
  readonly namespaces = new Map<string, StoredNamespace>();
  private readonly detachedNames = new Set<string>();
  private lock: StoreLock | undefined;
  private readonly log: Logger;

  private constructor(dir: string, lock: StoreLock, log: Logger) {
    this.dir = dir;
    this.lock = lock;
    this.log = log;
  }

  static open(dir: string, opts: StoreOpenOptions = {}): Store {
    const log = opts.logger ?? silentLogger;
    if (!fs.existsSync(dir)) throw new StoreError(`store ${dir} does not exist (create it with: zonefuse create ${dir})`);
    const lock = StoreLock.acquire(dir, opts.command ?? `zonefuse (pid ${process.pid})`);
    const store = new Store(dir, lock, log);
    try {
      if (lock.staleOwner) {
        log.warn({ staleOwner: lock.staleOwner }, `recovered a stale lock on ${dir} left by pid ${lock.staleOwner.pid} (${lock.staleOwner.command})`);
      }
      store.removeHalfCreated();
      const names = listNamespaces(dir);
      if (names.length === 0) throw new StoreError(`store ${dir} has no namespaces (create one with: zonefuse create ${dir})`);
      for (const name of names) {
        if ((StoredNamespace.peekHeader(dir, name).flags & Flag.DETACHED) !== 0) {
          store.detachedNames.add(name);
          continue;
        }
        const expect = opts.expect?.[name];
        const ns = StoredNamespace.open(dir, name, expect ? { logger: log, expect } : { logger: log });
        store.namespaces.set(name, ns);
      }
    } catch (e) {
      store.close();
      throw e;
    }
    return store;
  }

  /** A crash during create leaves `<name>.zmeta.tmp` and maybe `<name>.data`: remove them. */
  private removeHalfCreated(): void {
    for (const f of fs.readdirSync(this.dir)) {
      if (!f.endsWith(META_SUFFIX + '.tmp')) continue;
      const name = f.slice(0, -(META_SUFFIX.length + 4));
      const p = namespacePaths(this.dir, name);
      fs.rmSync(path.join(this.dir, f), { force: true });
      if (!fs.existsSync(p.meta)) fs.rmSync(p.data, { force: true });
      this.log.warn({ ns: name }, `removed half-created namespace ${name} (interrupted create)`);
    }
  }

  get(name: string): StoredNamespace | undefined {
    return this.namespaces.get(name);
  }

  /** The attached (open) namespaces. */
  attached(): StoredNamespace[] {
    return [...this.namespaces.values()];
  }

  /** Every namespace, attached or not, in name order. */
  list(): NamespaceEntry[] {
    const out: NamespaceEntry[] = [];
    for (const [name, ns] of this.namespaces) out.push({ name, attached: true, header: ns.info });
    for (const name of this.detachedNames) out.push({ name, attached: false, header: StoredNamespace.peekHeader(this.dir, name) });
    return out.sort((a, b) => compareNames(a.name, b.name));
  }

  private exists(name: string): boolean {
    return this.namespaces.has(name) || this.detachedNames.has(name);
  }

  private need(name: string): void {
    if (!this.exists(name)) throw new StoreError(`store ${this.dir} has no namespace ${name}`, 'ENOENT');
  }

  /** Create and attach a namespace while the store is open. */
  createNamespace(geometry: Partial<Geometry>, opts: CreateNamespaceOptions = {}): StoredNamespace {
    const g = resolveGeometry(geometry);
    const name = opts.name ?? nextNamespaceName(this.dir);
    checkNewName(this.dir, name, this.exists(name));
    StoredNamespace.create(this.dir, name, g, opts);
    let ns: StoredNamespace;
    try {
      ns = StoredNamespace.open(this.dir, name, { logger: this.log });
    } catch (e) {
      // A refused create leaves nothing behind: not even files the next start would have to remove.
      const p = namespacePaths(this.dir, name);
      for (const f of [p.meta, p.data, p.undo]) fs.rmSync(f, { force: true });
      throw e;
    }
    this.namespaces.set(name, ns);
    this.log.info({ ns: name }, `created namespace ${name}`);
    return ns;
  }

  /** Take a namespace out of service; its files stay and it comes back with attach. */
  detach(name: string): void {
    this.need(name);
    const ns = this.namespaces.get(name);
    if (!ns) throw new StoreError(`namespace ${name} is already detached`, 'EBUSY');
    ns.setDetached(true);
    ns.close();
    this.namespaces.delete(name);
    this.detachedNames.add(name);
    this.log.info({ ns: name }, `detached namespace ${name}`);
  }

  attach(name: string): StoredNamespace {
    this.need(name);
    if (!this.detachedNames.has(name)) throw new StoreError(`namespace ${name} is already attached`, 'EBUSY');
    const ns = StoredNamespace.open(this.dir, name, { logger: this.log });
    ns.setDetached(false);
    this.detachedNames.delete(name);
    this.namespaces.set(name, ns);
    this.log.info({ ns: name }, `attached namespace ${name}`);
    return ns;
  }

  /** Delete a namespace and its files. */
  deleteNamespace(name: string): void {
    this.need(name);
    const ns = this.namespaces.get(name);
    if (ns) ns.close(false);
    this.namespaces.delete(name);
    this.detachedNames.delete(name);
    const p = namespacePaths(this.dir, name);
    // The sidecar first: without it the data file is an orphan that the next open removes.
    fs.rmSync(p.meta, { force: true });
    fsyncDir(this.dir);
    fs.rmSync(p.data, { force: true });
    fs.rmSync(p.undo, { force: true });
    fs.rmSync(p.events, { force: true });
    this.log.info({ ns: name }, `deleted namespace ${name}`);
  }

  flush(): void {
    for (const ns of this.namespaces.values()) ns.flush();
  }

  /** Close every namespace cleanly and release the lock. */
  close(): void {
    let first: unknown;
    for (const ns of this.namespaces.values()) {
      try {
        ns.close();
      } catch (e) {
        first ??= e;
        this.log.error({ err: e, ns: ns.name }, 'closing namespace failed');
      }
    }
    this.namespaces.clear();
    this.lock?.release();
    this.lock = undefined;
    if (first) throw first;
  }
}
