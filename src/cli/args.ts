/** Parsing of CLI values: sizes with K/M/G/T suffixes (powers of 1024) and counts. */
import * as os from 'node:os';
import * as path from 'node:path';
import { InvalidArgumentError } from 'commander';

const SUFFIX: Record<string, number> = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 };

/** "64M", "4G", "4096", "1.5G" (must come out a whole number of bytes). */
export function parseSize(text: string): number {
  const m = /^\s*([0-9]+(?:\.[0-9]+)?)\s*([KMGT]?)(?:i?B)?\s*$/i.exec(text);
  if (!m) throw new InvalidArgumentError(`"${text}" is not a size (use a number with an optional K, M, G or T suffix)`);
  const n = Number(m[1]) * SUFFIX[m[2]!.toUpperCase()]!;
  if (!Number.isSafeInteger(n)) throw new InvalidArgumentError(`"${text}" is not a whole number of bytes`);
  return n;
}

export function parseCount(text: string): number {
  if (!/^\s*[0-9]+\s*$/.test(text)) throw new InvalidArgumentError(`"${text}" is not a non-negative integer`);
  const n = Number(text);
  if (!Number.isSafeInteger(n)) throw new InvalidArgumentError(`"${text}" is too large`);
  return n;
}

/** Where `zonefuse mount MNT` keeps its store when none is named. */
export function defaultStoreDir(): string {
  if (process.env.ZONEFUSE_DEFAULT_STORE) return path.resolve(process.env.ZONEFUSE_DEFAULT_STORE);
  const data = process.env.XDG_DATA_HOME || path.join(os.homedir(), '.local', 'share');
  return path.join(data, 'zonefuse', 'default');
}
