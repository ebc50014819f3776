/**
 * Zone control commands as text: what `ctl` accepts (PRODUCT.md §3) and what `zonefuse zone`
 * sends. Parsing is separate from execution so both front ends report the same errors.
 *
 *   open|close|finish|reset N      one zone (by index)
 *   open|close|finish|reset all    select all
 *   open N zrwa                    open with a Zone Random Write Area allocated
 *   zrwa-flush N LBA               commit zone N's ZRWA up to and including LBA (absolute, or
 *                                  relative to the zone start)
 *   excursion N                    the controller finishes active zone N by itself (ZFC)
 *   clock +SECONDS                 advance the device clock (suffixes s, m, h, d)
 *   offline all                    spec Offline action on every Read Only zone
 *   readonly N / offline N         fault injection: finish first, then Read Only / Offline
 *   set-ext N HEX                  set zone descriptor extension (hex bytes)
 *   recommend reset|finish N [off] set (or clear) the Reset/Finish Zone Recommended attribute
 *   cache on|off                   volatile write cache
 *   flush                          make everything written durable (like fsync)
 *   power-cycle [keep=POLICY]      power loss: with the cache on, unflushed writes are lost, or
 *                                  what POLICY keeps: none (default), all, prefix:SEED
 *   mark LABEL                     a label in the trace of `mount --trace` (crashtest); else nothing
 *   shutdown                       clean power cycle: flush, then the spec's shutdown transitions
 *   fault read|write|rw START COUNT [once] [partial]   bad LBA range
 *   fault random SEED WRITES [READS]                   fail 1 in WRITES writes (and READS reads)
 *   fault clear                    remove every injected fault (Read Only/Offline zones → Empty)
 */
import { Rejection } from '../engine/status.js';
import { isRejection } from '../engine/namespace.js';
import { LOSS_NONE, LossPolicy, LossPolicyError, formatLossPolicy, parseLossPolicy } from '../engine/loss-policy.js';
import { StoredNamespace } from '../store/stored-namespace.js';
import { BadRange, RandomFaults } from '../store/faults.js';

export type ControlCommand =
  | { verb: 'open' | 'close' | 'finish' | 'reset'; zone: number | 'all'; zrwa?: boolean }
  | { verb: 'zrwa-flush'; zone: number; lba: number }
  | { verb: 'excursion'; zone: number }
  | { verb: 'clock'; seconds: number; zone?: undefined }
  | { verb: 'offline'; zone: number | 'all' }
  | { verb: 'readonly'; zone: number }
  | { verb: 'set-ext'; zone: number; data: Buffer }
  | { verb: 'recommend'; which: 'reset' | 'finish'; zone: number; on: boolean }
  | { verb: 'cache'; on: boolean; zone?: undefined }
  | { verb: 'flush' | 'shutdown'; zone?: undefined }
  | { verb: 'power-cycle'; keep: LossPolicy; zone?: undefined }
  | { verb: 'mark'; label: string; zone?: undefined }
  | { verb: 'fault'; range: BadRange; zone?: undefined }
  | { verb: 'fault-random'; random: RandomFaults; zone?: undefined }
  | { verb: 'fault-clear'; zone?: undefined };

export const CONTROL_VERBS = [
  'open', 'close', 'finish', 'reset', 'readonly', 'offline', 'set-ext', 'recommend', 'cache', 'flush',
  'power-cycle', 'shutdown', 'fault', 'mark', 'zrwa-flush', 'excursion', 'clock',
] as const;

/** Commands that act on the whole namespace as a device (no zone). */
export function isDeviceCommand(c: ControlCommand): boolean {
  return c.verb === 'cache' || c.verb === 'clock' || c.verb === 'flush' || c.verb === 'power-cycle' || c.verb === 'shutdown' ||
    c.verb === 'mark' ||
    c.verb === 'fault' || c.verb === 'fault-random' || c.verb === 'fault-clear';
}

function parseCount(word: string | undefined, what: string, min = 0): number {
  if (word === undefined || !/^(0|[1-9][0-9]*)$/.test(word) || !Number.isSafeInteger(Number(word)) || Number(word) < min) {
    throw new CommandSyntaxError(`${what} must be ${min > 0 ? 'a positive' : 'a non-negative'} integer${word === undefined ? '' : `, not "${word}"`}`);
  }
  return Number(word);
}

const UNIT_SECONDS: Record<string, number> = { '': 1, s: 1, m: 60, h: 3600, d: 86400 };

/** "+3600", "+90m", "+1.5h": how far to move the device clock. */
function parseSeconds(word: string | undefined): number {
  const m = word === undefined ? null : /^\+?((?:0|[1-9][0-9]*)(?:\.[0-9]+)?)([smhd]?)$/.exec(word);
  if (!m) throw new CommandSyntaxError(`"clock" takes +SECONDS (for example +3600 or +2h)${word === undefined ? '' : `, not "${word}"`}`);
  const seconds = Number(m[1]) * UNIT_SECONDS[m[2]!]!;
  if (!(seconds <= 100 * 365 * 86400)) throw new CommandSyntaxError(`"clock" moves at most 100 years at once, not ${word}`);
  return seconds;
}

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
  if (z >= nrZones) throw new CommandSyntaxError(`zone ${word} is out of range (the namespace has ${nrZones} zones: 0..${nrZones - 1})`);
  return z;
}

/** Parse one command line (surrounding white space and a trailing newline are ignored). */
export function parseCommand(line: string, nrZones: number, nlba = Infinity): ControlCommand {
  const words = line.trim().split(/\s+/).filter((w) => w.length > 0);
  const verb = words[0];
  if (verb === undefined) throw new CommandSyntaxError('empty command');
  const extra = (n: number): void => {
    if (words.length > n) throw new CommandSyntaxError(`unexpected "${words.slice(n).join(' ')}" after "${words.slice(0, n).join(' ')}"`);
  };
  switch (verb) {
    case 'open':
      if (words[2] === 'zrwa') {
        extra(3);
        return { verb, zone: parseZone(words[1], nrZones, false, 'open … zrwa'), zrwa: true };
      }
      extra(2);
      return { verb, zone: parseZone(words[1], nrZones, true, verb) };
    case 'close':
    case 'finish':
    case 'reset':
      extra(2);
      return { verb, zone: parseZone(words[1], nrZones, true, verb) };
    case 'zrwa-flush': {
      extra(3);
      const zone = parseZone(words[1], nrZones, false, verb) as number;
      return { verb, zone, lba: parseCount(words[2], 'the LBA (the last LBA to flush)') };
    }
    case 'excursion':
      extra(2);
      return { verb, zone: parseZone(words[1], nrZones, false, verb) as number };
    case 'clock':
      extra(2);
      return { verb, seconds: parseSeconds(words[1]) };
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
    case 'recommend': {
      extra(4);
      const which = words[1];
      if (which !== 'reset' && which !== 'finish') throw new CommandSyntaxError(`"recommend" takes "reset" or "finish", not "${which ?? ''}"`);
      const zone = parseZone(words[2], nrZones, false, verb) as number;
      const flag = words[3];
      if (flag !== undefined && flag !== 'on' && flag !== 'off') throw new CommandSyntaxError(`"recommend" ends with "on" or "off", not "${flag}"`);
      return { verb, which, zone, on: flag !== 'off' };
    }
    case 'cache': {
      extra(2);
      const w = words[1];
      if (w !== 'on' && w !== 'off') throw new CommandSyntaxError(`"cache" takes "on" or "off"`);
      return { verb, on: w === 'on' };
    }
    case 'flush':
    case 'shutdown':
      extra(1);
      return { verb };
    case 'power-cycle': {
      extra(2);
      const opt = words[1];
      if (opt === undefined) return { verb, keep: LOSS_NONE };
      if (!opt.startsWith('keep=')) throw new CommandSyntaxError(`"power-cycle" takes keep=none|all|prefix:SEED, not "${opt}"`);
      try {
        return { verb, keep: parseLossPolicy(opt.slice(5)) };
      } catch (e) {
        if (e instanceof LossPolicyError) throw new CommandSyntaxError(`"power-cycle": ${e.message}`);
        throw e;
      }
    }
    case 'mark': {
      const label = line.trim().slice(4).trim();
      if (label.length === 0) throw new CommandSyntaxError('"mark" needs a label');
      if (Buffer.byteLength(label) > 1024) throw new CommandSyntaxError('a mark label is at most 1024 bytes');
      return { verb, label };
    }
    case 'fault':
      return parseFault(words, nlba);
    default:
      throw new CommandSyntaxError(`unknown command "${verb}" (known: ${CONTROL_VERBS.join(', ')})`);
  }
}

function parseFault(words: string[], nlba: number): ControlCommand {
  const kind = words[1];
  if (kind === 'clear') {
    if (words.length > 2) throw new CommandSyntaxError(`unexpected "${words.slice(2).join(' ')}" after "fault clear"`);
    return { verb: 'fault-clear' };
  }
  if (kind === 'random') {
    if (words.length > 5) throw new CommandSyntaxError(`unexpected "${words.slice(5).join(' ')}" after "fault random"`);
    const seed = parseCount(words[2], 'the seed');
    if (seed > 0xffffffff) throw new CommandSyntaxError('the seed must fit in 32 bits');
    const writeOneIn = parseCount(words[3], 'WRITES (fail one write in WRITES; 0 = never)');
    const readOneIn = words[4] === undefined ? 0 : parseCount(words[4], 'READS (fail one read in READS; 0 = never)');
    return { verb: 'fault-random', random: { seed, writeOneIn, readOneIn } };
  }
  if (kind !== 'read' && kind !== 'write' && kind !== 'rw') {
    throw new CommandSyntaxError(`"fault" takes read, write, rw, random or clear, not "${kind ?? ''}"`);
  }
  const start = parseCount(words[2], 'the first LBA');
  const count = parseCount(words[3], 'the LBA count', 1);
  if (start + count > nlba) throw new CommandSyntaxError(`LBAs ${start}..${start + count - 1} are outside the namespace (${nlba} LBAs)`);
  const range: BadRange = { start, count, read: kind !== 'write', write: kind !== 'read', once: false, partial: false };
  for (const opt of words.slice(4)) {
    if (opt === 'once') range.once = true;
    else if (opt === 'partial' && range.write) range.partial = true;
    else throw new CommandSyntaxError(`unknown fault option "${opt}" (once${range.write ? ', partial' : ''})`);
  }
  return { verb: 'fault', range };
}

/** One command line of a write to a ctl file, and the byte just past it (and its newline). */
export interface CtlLine {
  line: string;
  end: number;
}

/**
 * The command lines of a write of buf[0, len) to a ctl file (blank lines skipped), each with
 * where it ends in bytes, so that a write refused part-way can report how much was done.
 */
export function ctlLines(buf: Buffer, len: number): CtlLine[] {
  const out: CtlLine[] = [];
  let start = 0;
  while (start < len) {
    let nl = buf.indexOf(0x0a, start);
    if (nl < 0 || nl >= len) nl = len;
    const line = buf.toString('utf8', start, nl).trim();
    const end = Math.min(nl + 1, len);
    if (line.length > 0) out.push({ line, end });
    start = end;
  }
  return out;
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
      return ns.manage(cmd.verb, cmd.zone, { zrwa: cmd.zrwa === true });
    case 'zrwa-flush':
      return ns.zrwaFlush(cmd.zone, cmd.lba);
    case 'excursion': {
      const r = ns.excursion(cmd.zone);
      return isRejection(r) ? r : undefined;
    }
    case 'clock':
      ns.advanceClock(cmd.seconds);
      return undefined;
    case 'offline':
      // On one zone: fault injection (which is also the spec's Offline action on a Read Only
      // zone); with "all": the spec's select-all Offline (Read Only zones only).
      return cmd.zone === 'all' ? ns.manage('offline', 'all') : ns.injectFault('offline', cmd.zone);
    case 'readonly':
      return ns.injectFault('readonly', cmd.zone);
    case 'set-ext':
      return ns.setDescriptorExtension(cmd.zone, cmd.data);
    case 'recommend':
      return ns.setRecommendation(cmd.zone, cmd.which, cmd.on);
    case 'cache':
      ns.setVolatileCache(cmd.on);
      return undefined;
    case 'flush':
      ns.flush();
      return undefined;
    case 'power-cycle':
      ns.powerCycle('power-loss', cmd.keep);
      return undefined;
    case 'mark':
      ns.mark(cmd.label);
      return undefined;
    case 'shutdown':
      ns.powerCycle('shutdown');
      return undefined;
    case 'fault':
      ns.addBadRange(cmd.range);
      return undefined;
    case 'fault-random':
      ns.setRandomFaults(cmd.random);
      return undefined;
    case 'fault-clear':
      ns.clearFaults();
      return undefined;
  }
}

export function formatCommand(cmd: ControlCommand): string {
  switch (cmd.verb) {
    case 'set-ext': return `set-ext ${cmd.zone} ${cmd.data.toString('hex')}`;
    case 'recommend': return `recommend ${cmd.which} ${cmd.zone}${cmd.on ? '' : ' off'}`;
    case 'cache': return `cache ${cmd.on ? 'on' : 'off'}`;
    case 'flush':
    case 'shutdown': return cmd.verb;
    case 'power-cycle': return cmd.keep.kind === 'none' ? 'power-cycle' : `power-cycle keep=${formatLossPolicy(cmd.keep)}`;
    case 'mark': return `mark ${cmd.label}`;
    case 'fault': {
      const r = cmd.range;
      return `fault ${r.read && r.write ? 'rw' : r.read ? 'read' : 'write'} ${r.start} ${r.count}${r.once ? ' once' : ''}${r.partial ? ' partial' : ''}`;
    }
    case 'fault-random': return `fault random ${cmd.random.seed} ${cmd.random.writeOneIn} ${cmd.random.readOneIn}`;
    case 'fault-clear': return 'fault clear';
    case 'zrwa-flush': return `zrwa-flush ${cmd.zone} ${cmd.lba}`;
    case 'clock': return `clock +${cmd.seconds}`;
    case 'open': return `open ${cmd.zone}${cmd.zrwa ? ' zrwa' : ''}`;
    default: return `${cmd.verb} ${cmd.zone}`;
  }
}
