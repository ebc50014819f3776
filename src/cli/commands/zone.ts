import * as fs from 'node:fs';
import * as path from 'node:path';
import { Store } from '../../store/store.js';
import { ControlCommand, executeCommand, formatCommand, parseCommand } from '../../control/commands.js';
import { StoredNamespace } from '../../store/stored-namespace.js';
import { describeRejection } from '../../engine/status.js';
import { stateName } from '../../engine/zone.js';
import { resolveTarget, pickNamespace, CliError } from '../target.js';

export const ZONE_ACTIONS = ['open', 'close', 'finish', 'reset', 'readonly', 'offline'] as const;

/**
 * On a mounted store the command goes through the namespace's `ctl` file (the daemon owns
 * the store); on an unmounted one the store is opened directly.
 */
export function zoneCommand(action: string, target: string, zone: string, flags: { ns?: string }): void {
  const t = resolveTarget(target);
  const name = pickNamespace(t.storeDir, flags.ns);
  const line = `${action} ${zone}`;
  if (t.mount) {
    sendToMount(t.mount.mountpoint, name, line);
  } else {
    if (action === 'open' || action === 'close') {
      // A stopped device has no open zones: the shutdown at the end of this command would undo it.
      throw new CliError(`zone ${action} only means something on a running device: mount ${t.storeDir} and use its mount point`);
    }
    const store = Store.open(t.storeDir, { command: `zonefuse zone ${line}` });
    try {
      const ns = store.get(name)!;
      if (!ns.engine.zoned) throw new CliError(`namespace ${name} is not zoned`);
      const cmd = parseCommand(line, ns.engine.nrZones);
      if (typeof cmd.zone === 'number' && ns.engine.isConventional(cmd.zone)) {
        throw new CliError(`zone ${cmd.zone} is conventional: zone commands do not apply`);
      }
      const r = executeCommand(ns, cmd);
      if (r) throw new CliError(describeRejection(r));
      report(ns, cmd);
    } finally {
      store.close();
    }
  }
}

function report(ns: StoredNamespace, cmd: ControlCommand): void {
  const what = formatCommand(cmd);
  if (cmd.zone === 'all') process.stdout.write(`${ns.name}: ${what}: done\n`);
  else process.stdout.write(`${ns.name}: ${what}: zone ${cmd.zone} is now ${stateName(ns.engine.stateOf(cmd.zone))}\n`);
}

function sendToMount(mnt: string, name: string, line: string): void {
  const dir = path.join(mnt, name + '.zones');
  try {
    fs.writeFileSync(path.join(dir, 'ctl'), line + '\n');
  } catch (e) {
    // The daemon explains every refusal in `errors`; show its newest line.
    let why = '';
    try {
      const lines = fs.readFileSync(path.join(dir, 'errors'), 'utf8').trimEnd().split('\n');
      why = lines[lines.length - 1] ?? '';
    } catch {
      // errors unreadable: the errno alone will do
    }
    const code = (e as NodeJS.ErrnoException).code ?? 'error';
    throw new CliError(`${name}: ${line}: ${code}${why ? ` (${why.replace(/^\S+ /, '')})` : ''}`);
  }
  process.stdout.write(`${name}: ${line}: done\n`);
}
