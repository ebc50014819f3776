/** Sizes with K/M/G/T suffixes (powers of 1024), shared by the CLI and the control files. */
const SUFFIX: Record<string, number> = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 };

/** "64M", "4G", "4096", "1.5G" (must come out a whole number of bytes); throws a RangeError. */
export function parseSizeText(text: string): number {
  const m = /^\s*([0-9]+(?:\.[0-9]+)?)\s*([KMGT]?)(?:i?B)?\s*$/i.exec(text);
  if (!m) throw new RangeError(`"${text}" is not a size (use a number with an optional K, M, G or T suffix)`);
  const n = Number(m[1]) * SUFFIX[m[2]!.toUpperCase()]!;
  if (!Number.isSafeInteger(n)) throw new RangeError(`"${text}" is not a whole number of bytes`);
  return n;
}

export function parseCountText(text: string): number {
  if (!/^\s*[0-9]+\s*$/.test(text)) throw new RangeError(`"${text}" is not a non-negative integer`);
  const n = Number(text);
  if (!Number.isSafeInteger(n)) throw new RangeError(`"${text}" is too large`);
  return n;
}
