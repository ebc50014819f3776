import { stateName } from '../../engine/zone.js';
import { runControl } from '../control.js';
import { CliError } from '../target.js';

export const ZONE_ACTIONS = ['open', 'close', 'finish', 'reset', 'readonly', 'offline'] as const;

/** Zone management and the readonly/offline fault injections, mounted or not. */
export function zoneCommand(action: string, target: string, zone: string, flags: { ns?: string; zrwa?: boolean }): void {
  if (flags.zrwa && action !== 'open') throw new CliError('--zrwa only applies to open');
  const line = `${action} ${zone}${flags.zrwa ? ' zrwa' : ''}`;
  let state = '';
  const res = runControl(target, flags.ns, line, {
    // A stopped device has no open zones: the shutdown at the end of this command would undo it.
    refuseOffline: (verb) => (verb === 'open' || verb === 'close'
      ? `zone ${verb} only means something on a running device: mount $STORE and use its mount point`
      : undefined),
    after: (ns, cmd) => {
      if (typeof cmd.zone === 'number') state = `: zone ${cmd.zone} is now ${stateName(ns.engine.stateOf(cmd.zone))}`;
    },
  });
  process.stdout.write(`${res.ns}: ${line}${state || ': done'}\n`);
}
