/**
 * Running a control command (the `ctl` language of src/control/commands.ts) against a target:
 * through the namespace's `ctl` file when a daemon serves the store, or directly on the store
 * when nobody does.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Store } from '../store/store.js';
import { StoredNamespace } from '../store/stored-namespace.js';
import { ControlCommand, executeCommand, parseCommand } from '../control/commands.js';
import { describeRejection } from '../engine/status.js';
import { CliError, Target, checkOneLine, resolveTarget, pickNamespace } from './target.js';

export interface ControlResult {
  target: Target;
  ns: string;
  /** The namespace after the command, when it ran on an unmounted store. */
  stored?: StoredNamespace;
}

/**
 * Write `line` to a ctl file; if the daemon refuses it, fail with the errno and the `errors`
 * line beside it that explains this command (where the daemon explains every refusal).
 */
export function writeControlFile(dir: string, line: string, label: string): void {
  try {
    fs.writeFileSync(path.join(dir, 'ctl'), line + '\n');
  } catch (e) {
    let why = '';
    try {
      why = explanation(fs.readFileSync(path.join(dir, 'errors'), 'utf8').trimEnd().split('\n'), line).replace(/^\S+ /, '');
    } catch {
      // errors unreadable: the errno alone will do
    }
    throw new CliError(`${label}: ${(e as NodeJS.ErrnoException).code ?? 'error'}${why ? ` (${why})` : ''}`);
  }
}

/**
 * The newest `errors` line about command `line`: other processes' refusals may have landed after
 * it. A device refusal names its zone (`zone=N`), a refused command line is quoted; with neither
 * found, the newest line.
 */
export function explanation(lines: string[], line: string): string {
  const zone = /^\s*\S+\s+(\d+)\b/.exec(line)?.[1];
  const verb = line.trim().split(/\s+/)[0] ?? '';
  const about = (l: string): boolean => l.includes(`"${line.trim()}"`) || (zone !== undefined && l.includes(` zone=${zone} `) && l.includes(verb));
  for (let i = lines.length - 1; i >= 0; i--) if (about(lines[i]!)) return lines[i]!;
  return lines[lines.length - 1] ?? '';
}

/** A namespace command through MNT/NAME.zones/ctl. */
export function sendToMount(mnt: string, name: string, line: string): void {
  writeControlFile(path.join(mnt, name + '.zones'), line, `${name}: ${line}`);
}

/**
 * Run one command line on the namespace `ns` of `targetArg`. `offline(cmd)` may refuse commands
 * that mean nothing on a stopped device. `after` sees the namespace (unmounted case only).
 */
export function runControl(
  targetArg: string, nsFlag: string | undefined, line: string,
  opts: { refuseOffline?: (verb: string) => string | undefined; after?: (ns: StoredNamespace, cmd: ControlCommand) => void } = {},
): ControlResult {
  checkOneLine(line);
  const t = resolveTarget(targetArg);
  const name = pickNamespace(t.storeDir, nsFlag);
  if (t.mount) {
    const mnt = t.mount.mountpoint;
    if (!fs.existsSync(path.join(mnt, name))) throw new CliError(detachedMessage(t.storeDir, name));
    if (!fs.existsSync(path.join(mnt, name + '.zones'))) throw new CliError(`namespace ${name} is not zoned`);
    sendToMount(mnt, name, line);
    return { target: t, ns: name };
  }
  // Refused before the store is opened: opening it is a power-up with side effects.
  const refusal = opts.refuseOffline?.(line.split(' ')[0]!);
  if (refusal) throw new CliError(refusal.replace('$STORE', t.storeDir));
  const store = Store.open(t.storeDir, { command: `zonefuse ${line}` });
  try {
    const ns = store.get(name);
    if (!ns) throw new CliError(detachedMessage(t.storeDir, name));
    if (!ns.engine.zoned) throw new CliError(`namespace ${name} is not zoned`);
    const cmd = parseCommand(line, ns.engine.nrZones, ns.engine.nlba);
    if (typeof cmd.zone === 'number' && ns.engine.isConventional(cmd.zone)) {
      throw new CliError(`zone ${cmd.zone} is conventional: zone commands do not apply`);
    }
    let r;
    try {
      r = executeCommand(ns, cmd);
    } catch (e) {
      if (e instanceof RangeError) throw new CliError(e.message);
      throw e;
    }
    if (r) throw new CliError(describeRejection(r));
    opts.after?.(ns, cmd);
  } finally {
    store.close();
  }
  return { target: t, ns: name };
}

function detachedMessage(storeDir: string, name: string): string {
  return `namespace ${name} is detached: attach it first (zonefuse ns attach ${storeDir} ${name})`;
}

/**
 * Read a control file of a mounted namespace, or compute it from the store (also for a detached
 * namespace of a mounted store: the daemon does not have it open).
 */
export function readControl(targetArg: string, nsFlag: string | undefined, file: string, compute: (ns: StoredNamespace) => string): string {
  const t = resolveTarget(targetArg);
  const name = pickNamespace(t.storeDir, nsFlag);
  if (t.mount && fs.existsSync(path.join(t.mount.mountpoint, name))) return fs.readFileSync(path.join(t.mount.mountpoint, `${name}.zones`, file), 'utf8');
  const ns = StoredNamespace.open(t.storeDir, name, { readOnly: true });
  try {
    return compute(ns);
  } finally {
    ns.close();
  }
}
