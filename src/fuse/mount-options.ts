/**
 * Creating a fuse-native `Fuse` whose `-o` string carries the mount options we need but that
 * fuse-native cannot pass.
 *
 * Why: fuse-native builds `-o` in a private method, `_fuseOptions()`, from a fixed whitelist of
 * camelCase options. `direct_io`, `big_writes`, `max_write` and `negative_timeout` are not in it,
 * and whitelisted values are dropped when falsy, so `attrTimeout: 0` / `entryTimeout: 0` never
 * reach libfuse (whose defaults are 1 s). We need:
 * - `direct_io`: no page cache, so every application write reaches the zone engine immediately
 *   and in order, and reads always see the write pointer's state. libfuse2 cannot set it per file.
 * - `big_writes,max_write=131072`: 128 KiB requests (the libfuse2 ceiling) instead of 4 KiB for
 *   buffered writers.
 * - `attr_timeout=0,entry_timeout=0,negative_timeout=0`: sizes and existence change behind the
 *   kernel's back (zone resets, appends), so it must not cache attributes or lookups.
 *
 * The override relies on a private method of an unmaintained package (2.2.6). If the method is
 * missing or its output format changed, createFuse throws instead of silently mounting without
 * direct_io.
 */
import Fuse from 'fuse-native';

/** Always appended to fuse-native's `-o` string. */
export const EXTRA_FUSE_OPTIONS: readonly string[] = ['direct_io', 'big_writes', 'max_write=131072'];

/** libfuse2 reads the option string into a 1024-byte buffer and silently truncates the rest. */
const MAX_OPTION_STRING = 1023;

export interface MountOptions extends Fuse.Options {
  /** Seconds the kernel caches attributes. Default 0. */
  attrTimeout?: number;
  /** Seconds the kernel caches name lookups. Default 0. */
  entryTimeout?: number;
  /** Seconds the kernel caches failed lookups (ENOENT). Default 0. Not in fuse-native's whitelist. */
  negativeTimeout?: number;
}

/**
 * `new Fuse(mnt, ops, opts)` plus `direct_io,big_writes,max_write=131072` and the cache timeouts
 * (default 0). Non-zero attr/entry timeouts go through fuse-native's own whitelist; zero ones
 * (which the whitelist would drop) and negative_timeout are appended by the override.
 */
export function createFuse(mnt: string, ops: Fuse.Operations, opts: MountOptions = {}): Fuse {
  const { negativeTimeout = 0, attrTimeout = 0, entryTimeout = 0, ...rest } = opts;
  const extra = [...EXTRA_FUSE_OPTIONS];
  const fuseOpts: Fuse.Options = { ...rest };
  if (attrTimeout) fuseOpts.attrTimeout = attrTimeout;
  else extra.push('attr_timeout=0');
  if (entryTimeout) fuseOpts.entryTimeout = entryTimeout;
  else extra.push('entry_timeout=0');
  extra.push(`negative_timeout=${negativeTimeout}`);

  const fuse = new Fuse(mnt, ops, fuseOpts);
  const original: unknown = (fuse as { _fuseOptions?: unknown })._fuseOptions;
  if (typeof original !== 'function') {
    throw new Error(
      'fuse-native no longer has the private Fuse#_fuseOptions() method: cannot add ' +
        `${extra.join(',')} to the mount options (fuse-native version changed?)`,
    );
  }
  const base = original as () => string;
  fuse._fuseOptions = function (this: Fuse): string {
    return appendOptions(base.call(this), extra);
  };
  // Build it once now, so that a changed format fails here rather than at mount time.
  fuse._fuseOptions();
  return fuse;
}

/** Appends options to a fuse-native option string ('' or '-oa,b,c'). Exported for tests. */
export function appendOptions(base: string, extra: readonly string[]): string {
  if (typeof base !== 'string' || (base !== '' && !base.startsWith('-o'))) {
    throw new Error(`unexpected fuse-native option string ${JSON.stringify(base)}`);
  }
  const all = (base === '' ? [] : base.slice(2).split(',')).concat(extra).filter((o) => o !== '');
  const result = '-o' + all.join(',');
  if (result.length > MAX_OPTION_STRING) {
    throw new Error(`FUSE option string is ${result.length} chars; libfuse truncates past ${MAX_OPTION_STRING}`);
  }
  return result;
}
