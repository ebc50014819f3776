/**
 * Top-level control files /{ctl,info,errors}: namespaces created, deleted, detached and attached
 * at run time (the subsystem).
 */
import { SubsystemCommand, parseSubsystemCommand } from '../control/subsystem.js';
import { CommandSyntaxError, ctlLines } from '../control/commands.js';
import { Store, StoreError } from '../store/store.js';
import { BackingStoreError, StoredNamespace } from '../store/stored-namespace.js';
import { FormatError } from '../store/format.js';
import { GeometryError } from '../engine/geometry.js';
import { formatSubsystemInfo } from '../format/info.js';
import { Logger } from '../log.js';
import { ErrorLog } from './error-log.js';
import { Owner } from './attr.js';
import { Node } from './node.js';
import { GeneratedFile } from './generated-file.js';
import { E, errnoName } from './errno.js';

/** Top-level (subsystem) control files. */
export const SUBSYSTEM_FILES = ['ctl', 'info', 'errors'] as const;
export type SubsystemName = (typeof SUBSYSTEM_FILES)[number];

/** What subsystem commands change in the mounted tree. */
export interface SubsystemTree {
  /** Put a namespace into the tree. */
  attach(ns: StoredNamespace): void;
  /** Take a namespace out of the tree; its open handles fail with EIO from now on. */
  remove(name: string): void;
  /** Handles open on a namespace (its file, zone files or control files). */
  openHandles(name: string): number;
}

/** The subsystem behind the top-level files: the store, the tree it changes, its `errors`. */
export class Subsystem {
  /** Refused subsystem commands (the top-level `errors` file). */
  readonly errors = new ErrorLog();

  constructor(readonly store: Store, private readonly tree: SubsystemTree, private readonly log: Logger) {}

  text(name: SubsystemName): string {
    if (name === 'errors') return this.errors.text();
    if (name === 'ctl') return '';
    return formatSubsystemInfo(this.store.list());
  }

  /** As a namespace's ctl: every line understood first; a refusal part-way makes a short write. */
  writeCtl(buf: Buffer, len: number): number {
    const lines = ctlLines(buf, len);
    if (lines.length === 0) return this.refuse('ctl: empty command', E.EINVAL);
    const cmds: SubsystemCommand[] = [];
    for (const { line } of lines) {
      try {
        cmds.push(parseSubsystemCommand(line));
      } catch (err) {
        if (err instanceof CommandSyntaxError) return this.refuse(`ctl "${line}": ${err.message}`, E.EINVAL);
        throw err;
      }
    }
    for (let i = 0; i < cmds.length; i++) {
      const line = lines[i]!.line;
      let r = 0;
      try {
        this.run(cmds[i]!);
      } catch (err) {
        if (err instanceof StoreError) r = this.refuse(`ctl "${line}": ${err.message}`, E[err.code]);
        else if (err instanceof GeometryError) r = this.refuse(`ctl "${line}": ${err.message}`, E.EINVAL);
        else if (err instanceof FormatError) r = this.refuse(`ctl "${line}": ${err.message}`, E.EIO);
        else if (err instanceof BackingStoreError) r = this.refuse(`ctl "${line}": ${err.message}`, err.errno, 'error');
        else throw err;
      }
      if (r < 0) return i === 0 ? r : lines[i - 1]!.end;
      this.log.info({ cmd: line }, `subsystem: ${line}`);
    }
    return len;
  }

  private run(cmd: SubsystemCommand): void {
    switch (cmd.verb) {
      case 'create': {
        const opts = { volatileCache: cmd.volatileCache, endianness: cmd.endianness, ...(cmd.name === undefined ? {} : { name: cmd.name }) };
        this.tree.attach(this.store.createNamespace(cmd.geometry, opts));
        return;
      }
      case 'attach':
        this.tree.attach(this.store.attach(cmd.name));
        return;
      case 'detach':
        this.store.detach(cmd.name);
        this.tree.remove(cmd.name);
        return;
      case 'delete': {
        const busy = this.tree.openHandles(cmd.name);
        if (busy > 0 && !cmd.force) {
          throw new StoreError(`namespace ${cmd.name} is in use (${busy} open file${busy === 1 ? '' : 's'}); use "delete ${cmd.name} force"`, 'EBUSY');
        }
        this.store.deleteNamespace(cmd.name);
        this.tree.remove(cmd.name);
        return;
      }
    }
  }

  private refuse(why: string, errno: number, level: 'info' | 'error' = 'info'): number {
    const name = errnoName(errno);
    this.errors.add(`${why} errno=${name}`);
    this.log[level]({ errno: name }, why);
    return -errno;
  }
}

export class SubsystemFile extends GeneratedFile implements Node {
  readonly m = undefined;

  constructor(owner: Owner, private readonly subsystem: Subsystem, override readonly name: SubsystemName) {
    super(owner, name);
  }

  protected mtime(): number {
    return this.owner.mountTime;
  }

  protected writeCommands(buf: Buffer, len: number): number {
    return this.subsystem.writeCtl(buf, len);
  }

  snapshot(): string {
    return this.subsystem.text(this.name);
  }
}
