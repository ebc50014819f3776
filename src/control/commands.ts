/**
 * Zone control commands as text: what `ctl` accepts (PRODUCT.md §3) and what `zonefuse zone`
 * sends. Parsing is separate from execution so both front ends report the same errors.
 *
 *   open|close|finish|reset N      one zone (by index)
 *   open|close|finish|reset all    select all
 *   offline all                    spec Offline action on every Read Only zone
 *   readonly N / offline N         fault injection: finish first, then Read Only / Offline
 *   set-ext N HEX                  set zone descriptor extension (hex bytes)
 */
import { Rejection } from '../engine/status.js';
import { StoredNamespace } from '../store/stored-namespace.js';

export type ControlCommand =
  | { verb: 'open' | 'close' | 'finish' | 'reset'; zone: number | 'all' }
  | { verb: 'offline'; zone: number | 'all' }
  | { verb: 'readonly'; zone: number }
  | { verb: 'set-ext'; zone: number; data: Buffer };

export const CONTROL_VERBS = ['open', 'close', 'finish', 'reset', 'readonly', 'offline', 'set-ext'] as const;

/** A command that could not be understood; the file interface answers EINVAL. */
export class CommandSyntaxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CommandSyntaxError';
  }
}

function parseZone(word: string | undefined, nrZones: number, allowAll: boolean, verb: string): number | 'all' {
  if (word === undefined) throw new CommandSyntaxError(`"${verb}" needs a zone index${allowAll ? ' or "all"' : ''}`);
  if (word === 'all') {
    if (!allowAll) throw new CommandSyntaxError(`"${verb}" does not take "all"`);
    return 'all';
  }
  if (!/^(0|[1-9][0-9]*)$/.test(word)) throw new CommandSyntaxError(`"${word}" is not a zone index`);
  const z = Number(word);
  if (z >= nrZones) throw new CommandSyntaxError(`zone ${z} is out of range (the namespace has ${nrZones} zones: 0..${nrZones - 1})`);
  return z;
}

/** Parse one command line (surrounding white space and a trailing newline are ignored). */
export function parseCommand(line: string, nrZones: number): ControlCommand {
  const words = line.trim().split(/\s+/).filter((w) => w.length > 0);
  const verb = words[0];
  if (verb === undefined) throw new CommandSyntaxError('empty command');
  const extra = (n: number): void => {
    if (words.length > n) throw new CommandSyntaxError(`unexpected "${words.slice(n).join(' ')}" after "${words.slice(0, n).join(' ')}"`);
  };
  switch (verb) {
    case 'open':
    case 'close':
    case 'finish':
    case 'reset':
      extra(2);
      return { verb, zone: parseZone(words[1], nrZones, true, verb) };
    case 'offline':
      extra(2);
      return { verb, zone: parseZone(words[1], nrZones, true, verb) };
    case 'readonly':
      extra(2);
      return { verb, zone: parseZone(words[1], nrZones, false, verb) as number };
    case 'set-ext': {
      extra(3);
      const zone = parseZone(words[1], nrZones, false, verb) as number;
      const hex = words[2] ?? '';
      if (!/^([0-9a-fA-F]{2})+$/.test(hex)) throw new CommandSyntaxError(`"set-ext" needs the extension data as hex bytes`);
      return { verb, zone, data: Buffer.from(hex, 'hex') };
    }
    default:
      throw new CommandSyntaxError(`unknown command "${verb}" (known: ${CONTROL_VERBS.join(', ')})`);
  }
}

/** Split a write to `ctl` into command lines (one per line; blank lines ignored). */
export function commandLines(text: string): string[] {
  return text.split('\n').map((l) => l.trim()).filter((l) => l.length > 0);
}

/** Run a parsed command on a namespace. */
export function executeCommand(ns: StoredNamespace, cmd: ControlCommand): Rejection | undefined {
  switch (cmd.verb) {
    case 'open':
    case 'close':
    case 'finish':
    case 'reset':
      return ns.manage(cmd.verb, cmd.zone);
    case 'offline':
      // On one zone: fault injection (which is also the spec's Offline action on a Read Only
      // zone); with "all": the spec's select-all Offline (Read Only zones only).
      return cmd.zone === 'all' ? ns.manage('offline', 'all') : ns.injectFault('offline', cmd.zone);
    case 'readonly':
      return ns.injectFault('readonly', cmd.zone);
    case 'set-ext':
      return ns.setDescriptorExtension(cmd.zone, cmd.data);
  }
}

export function formatCommand(cmd: ControlCommand): string {
  const base = `${cmd.verb} ${cmd.zone}`;
  return cmd.verb === 'set-ext' ? `${base} ${cmd.data.toString('hex')}` : base;
}
