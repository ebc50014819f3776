/** Parsing of CLI values (sizes with K/M/G/T suffixes, counts) and the default store. */
import * as os from 'node:os';
import * as path from 'node:path';
import { InvalidArgumentError } from 'commander';
import { parseCountText, parseSizeText } from '../control/units.js';

/** Commander parsers: the shared parsers, with commander's error type. */
export function parseSize(text: string): number {
  try {
    return parseSizeText(text);
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message);
  }
}

export function parseCount(text: string): number {
  try {
    return parseCountText(text);
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message);
  }
}

export function parsePort(text: string): number {
  const n = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!(n >= 0 && n <= 65535)) throw new InvalidArgumentError(`${text} is not a TCP port (0..65535)`);
  return n;
}

/** Where `zonefuse mount MNT` keeps its store when none is named. */
export function defaultStoreDir(): string {
  if (process.env.ZONEFUSE_DEFAULT_STORE) return path.resolve(process.env.ZONEFUSE_DEFAULT_STORE);
  const data = process.env.XDG_DATA_HOME || path.join(os.homedir(), '.local', 'share');
  return path.join(data, 'zonefuse', 'default');
}
