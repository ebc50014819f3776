/**
 * Subsystem commands (the mount's top-level `ctl`, and `zonefuse ns …`): namespaces are
 * created, deleted, detached and attached while the others keep running.
 *
 *   create [NAME] [size=4G] [lba-size=4096] [zone-size=64M] [zone-capacity=…] [conv-zones=2]
 *          [max-open=14] [max-active=14] [zasl=0] [descr-ext-size=0] [zoned=yes|no]
 *          [zrwas=0] [zrwafg=LBA] [numzrwa=max-active] [rrl=0] [frl=0] (seconds)
 *          [cross-read=yes|no] [host-aware=yes|no] [auto-transition=yes|no]
 *          [volatile-cache=yes|no] [endianness=little|big]
 *   delete NAME [force]      refused while files of NAME are open, unless forced
 *   detach NAME              NAME leaves the mount; its files stay in the store
 *   attach NAME
 */
import { Geometry } from '../engine/geometry.js';
import { Endianness } from '../store/format.js';
import { CommandSyntaxError } from './commands.js';
import { parseCountText, parseSizeText } from './units.js';

export type SubsystemCommand =
  | { verb: 'create'; name?: string; geometry: Partial<Geometry>; volatileCache: boolean; endianness: Endianness }
  | { verb: 'delete'; name: string; force: boolean }
  | { verb: 'detach' | 'attach'; name: string };

const SIZE_KEYS: Record<string, keyof Geometry> = {
  size: 'capacity', 'lba-size': 'lbaSize', 'zone-size': 'zoneSize', 'zone-capacity': 'zoneCapacity', zasl: 'zasl', 'descr-ext-size': 'descrExtSize',
  zrwas: 'zrwas', zrwafg: 'zrwafg',
};
const COUNT_KEYS: Record<string, keyof Geometry> = {
  'conv-zones': 'convZones', 'max-open': 'maxOpen', 'max-active': 'maxActive', numzrwa: 'numzrwa', rrl: 'rrl', frl: 'frl',
};
const BOOL_KEYS = ['zoned', 'cross-read', 'host-aware', 'auto-transition', 'volatile-cache'];

/** The subsystem's verbs and `create`'s option keys (for help texts and the fuzz tests). */
export const SUBSYSTEM_VERBS = ['create', 'delete', 'detach', 'attach'] as const;
export const CREATE_OPTION_KEYS: readonly string[] = [...Object.keys(SIZE_KEYS), ...Object.keys(COUNT_KEYS), ...BOOL_KEYS, 'endianness'];

function yesNo(key: string, v: string): boolean {
  if (v === 'yes' || v === 'on' || v === 'true') return true;
  if (v === 'no' || v === 'off' || v === 'false') return false;
  throw new CommandSyntaxError(`${key}= takes yes or no, not "${v}"`);
}

export function parseSubsystemCommand(line: string): SubsystemCommand {
  const words = line.trim().split(/\s+/).filter(Boolean);
  const verb = words[0];
  switch (verb) {
    case 'create': {
      const cmd: SubsystemCommand = { verb, geometry: {}, volatileCache: false, endianness: 'little' };
      for (const w of words.slice(1)) {
        const eq = w.indexOf('=');
        if (eq < 0) {
          if (cmd.name !== undefined) throw new CommandSyntaxError(`"create" takes one name, got "${cmd.name}" and "${w}"`);
          cmd.name = w;
          continue;
        }
        const key = w.slice(0, eq);
        const val = w.slice(eq + 1);
        try {
          if (SIZE_KEYS[key]) (cmd.geometry as Record<string, unknown>)[SIZE_KEYS[key]!] = parseSizeText(val);
          else if (COUNT_KEYS[key]) (cmd.geometry as Record<string, unknown>)[COUNT_KEYS[key]!] = parseCountText(val);
          else if (key === 'endianness') {
            if (val !== 'little' && val !== 'big') throw new CommandSyntaxError(`endianness= takes little or big, not "${val}"`);
            cmd.endianness = val;
          } else if (BOOL_KEYS.includes(key)) {
            const on = yesNo(key, val);
            if (key === 'zoned') cmd.geometry.zoned = on;
            else if (key === 'cross-read') cmd.geometry.crossRead = on;
            else if (key === 'host-aware') cmd.geometry.zoneModel = on ? 'host-aware' : 'host-managed';
            else if (key === 'auto-transition') cmd.geometry.autoTransition = on;
            else cmd.volatileCache = on;
          } else {
            throw new CommandSyntaxError(`unknown create option "${key}" (known: ${CREATE_OPTION_KEYS.join(', ')})`);
          }
        } catch (e) {
          if (e instanceof RangeError) throw new CommandSyntaxError(`${key}=: ${e.message}`);
          throw e;
        }
      }
      return cmd;
    }
    case 'delete': {
      const name = words[1];
      if (name === undefined) throw new CommandSyntaxError('"delete" needs a namespace name');
      const rest = words.slice(2);
      if (rest.length > 1 || (rest.length === 1 && rest[0] !== 'force')) throw new CommandSyntaxError(`"delete ${name}" takes only "force" after it`);
      return { verb, name, force: rest[0] === 'force' };
    }
    case 'detach':
    case 'attach': {
      const name = words[1];
      if (name === undefined) throw new CommandSyntaxError(`"${verb}" needs a namespace name`);
      if (words.length > 2) throw new CommandSyntaxError(`unexpected "${words.slice(2).join(' ')}" after "${verb} ${name}"`);
      return { verb, name };
    }
    default:
      throw new CommandSyntaxError(`unknown subsystem command "${verb ?? ''}" (known: ${SUBSYSTEM_VERBS.join(', ')})`);
  }
}

/** The `create` line for a geometry (what `zonefuse create` sends to a mounted store). */
export function formatCreate(name: string | undefined, g: Partial<Geometry>, volatileCache: boolean, endianness: Endianness): string {
  const parts = ['create'];
  if (name !== undefined) parts.push(name);
  for (const [key, field] of Object.entries(SIZE_KEYS)) if (g[field] !== undefined) parts.push(`${key}=${String(g[field])}`);
  for (const [key, field] of Object.entries(COUNT_KEYS)) if (g[field] !== undefined) parts.push(`${key}=${String(g[field])}`);
  if (g.zoned !== undefined) parts.push(`zoned=${g.zoned ? 'yes' : 'no'}`);
  if (g.crossRead !== undefined) parts.push(`cross-read=${g.crossRead ? 'yes' : 'no'}`);
  if (g.zoneModel !== undefined) parts.push(`host-aware=${g.zoneModel === 'host-aware' ? 'yes' : 'no'}`);
  if (g.autoTransition !== undefined) parts.push(`auto-transition=${g.autoTransition ? 'yes' : 'no'}`);
  if (volatileCache) parts.push('volatile-cache=yes');
  if (endianness !== 'little') parts.push(`endianness=${endianness}`);
  return parts.join(' ');
}
