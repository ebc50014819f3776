/**
 * Seeded, replayable fuzzing: the seed comes from ZONEFUSE_FUZZ_SEED or is drawn at random, and
 * every test prints it and names it in its failures, so a failing run is replayed exactly with
 * ZONEFUSE_FUZZ_SEED=<seed>. Counts scale with ZONEFUSE_FUZZ_SCALE (default 1, the bounded run
 * of `npm test`; a larger value fuzzes longer).
 */
import { mulberry32 } from './prng.mjs';

export const FUZZ_SCALE = Number(process.env.ZONEFUSE_FUZZ_SCALE ?? '1') || 1;

export interface Fuzz {
  readonly seed: number;
  /** [0, 1) */
  next(): number;
  int(n: number): number;
  pick<T>(a: readonly T[]): T;
  chance(p: number): boolean;
  /** A random string of `n` characters from a hostile alphabet (control, unicode, quotes). */
  junk(n: number): string;
}

const HOSTILE = ['\0', '\t', '\r', '\x7f', '\x1b', '"', "'", '\\', '=', '/', '..', ' ', '\u00e9', '\u2028', '\uffff', '\ud83d\ude00', '%s', '$(x)', ';', '|'];

export function fuzz(label: string): Fuzz {
  const fromEnv = process.env.ZONEFUSE_FUZZ_SEED;
  const seed = fromEnv !== undefined ? Number(fromEnv) >>> 0 : (Math.random() * 2 ** 32) >>> 0;
  console.log(`${label}: seed ${seed} (replay with ZONEFUSE_FUZZ_SEED=${seed})`);
  const next = mulberry32(seed);
  const int = (n: number): number => Math.floor(next() * n);
  return {
    seed,
    next,
    int,
    pick: <T>(a: readonly T[]): T => a[int(a.length)]!,
    chance: (p: number) => next() < p,
    junk(n: number): string {
      let s = '';
      for (let i = 0; i < n; i++) s += next() < 0.5 ? String.fromCharCode(0x20 + int(95)) : HOSTILE[int(HOSTILE.length)]!;
      return s;
    },
  };
}

/** Mutations of a text line: flips, insertions, deletions, duplications, case, line breaks. */
export function mutate(f: Fuzz, line: string): string {
  let s = line;
  const rounds = 1 + f.int(3);
  for (let r = 0; r < rounds; r++) {
    const at = f.int(s.length + 1);
    switch (f.int(8)) {
      case 0: // flip a bit of one character
        if (s.length) s = s.slice(0, at) + String.fromCharCode((s.charCodeAt(Math.min(at, s.length - 1)) ^ (1 << f.int(7))) || 0x20) + s.slice(at + 1);
        break;
      case 1:
        s = s.slice(0, at) + f.junk(1 + f.int(3)) + s.slice(at);
        break;
      case 2:
        s = s.slice(0, at) + s.slice(at + 1 + f.int(4));
        break;
      case 3: {
        const words = s.split(' ');
        const w = f.int(words.length);
        words.splice(w, 0, words[w] ?? '');
        s = words.join(' ');
        break;
      }
      case 4:
        s = f.chance(0.5) ? s.toUpperCase() : `  ${s}\t `;
        break;
      case 5:
        s = s.slice(0, at) + f.pick(['0', '-1', '4294967296', '9007199254740993', '1e9', '0x10', '']) + s.slice(at);
        break;
      case 6:
        s = `${s}\n${s}`;
        break;
      default:
        s = s + ' ' + 'x'.repeat(f.chance(0.1) ? 5000 : 1 + f.int(10));
    }
  }
  return s;
}
