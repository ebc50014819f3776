/**
 * `zonefuse exec [--] CMD [ARGS...]` and `zonefuse preload` (PRODUCT.md §8): run a program with
 * the compatibility library preloaded, so the namespace files of zonefuse mounts are zoned block
 * devices to it; print the library's path for LD_PRELOAD= in scripts.
 */
import { spawn, spawnSync } from 'node:child_process';
import { constants as os } from 'node:os';
import { CliError } from '../target.js';
import { NativePiece, NativeUnavailableError, explainLoadFailure, nativeArtifact } from '../../native/artifacts.js';
import type { Requirement } from '../../system/requirements.js';

/** Built by native/preload/build.sh (scripts/setup and prepack run it). */
export const PRELOAD_LIBRARY: NativePiece = {
  name: 'preload', file: 'libzonefuse-preload.so', usedFor: 'the compatibility library for zoned tools',
};

/**
 * What `zonefuse exec` needs (checked by `zonefuse doctor`): the library, preloaded for real
 * into a short process (it must show in that process's memory map), and the field's zoned tools
 * it is used with (PRODUCT.md §8).
 */
export const EXEC_REQUIREMENTS: readonly Requirement[] = [
  {
    kind: 'native',
    name: 'preload library',
    usedFor: 'zonefuse exec',
    load: async () => {
      const lib = nativeArtifact(PRELOAD_LIBRARY);
      // The probe process is node itself (a dynamically linked glibc program that is always
      // there), not a tool looked up on PATH: a PATH without cat must not fail this check.
      const r = spawnSync(process.execPath, ['-e', "process.stdout.write(require('fs').readFileSync('/proc/self/maps', 'utf8'))"], {
        encoding: 'utf8', env: { ...process.env, LD_PRELOAD: lib },
      });
      if (r.error) throw r.error;
      if (!r.stdout.includes(lib)) throw new Error(r.stderr.trim() || `${lib} is not mapped into a process started with it in LD_PRELOAD`);
      return `${lib} preloads`;
    },
    explain: (e) => explainLoadFailure(PRELOAD_LIBRARY, e),
  },
  { kind: 'program', name: 'blkzone', apt: 'util-linux', usedFor: 'zonefuse exec blkzone' },
  { kind: 'program', name: 'fio', apt: 'fio', usedFor: 'zonefuse exec fio --zonemode=zbd' },
  { kind: 'program', name: 'zbd', apt: 'zbd-utils', usedFor: 'zonefuse exec zbd' },
];

export function preloadLibrary(): string {
  try {
    return nativeArtifact(PRELOAD_LIBRARY);
  } catch (e) {
    if (e instanceof NativeUnavailableError) throw new CliError(e.message);
    throw e;
  }
}

export function preloadCommand(): void {
  process.stdout.write(preloadLibrary() + '\n');
}

/** LD_PRELOAD with the library first, keeping what the caller preloads already. */
export function preloadEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const lib = preloadLibrary();
  const others = (env.LD_PRELOAD ?? '').split(/[: ]+/).filter((p) => p !== '' && p !== lib);
  return { ...env, LD_PRELOAD: [lib, ...others].join(':') };
}

const FORWARDED: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'];

/** Runs CMD; exits with its status, or dies of the signal that killed it, as a shell would report. */
export async function execCommand(cmd: string, args: string[]): Promise<void> {
  const env = preloadEnv();
  const child = spawn(cmd, args, { stdio: 'inherit', env });
  // The terminal's signals reach the child directly; forward the ones sent to us alone.
  const forward = (sig: NodeJS.Signals): void => {
    child.kill(sig);
  };
  for (const s of FORWARDED) process.on(s, forward);
  const result = await new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: NodeJS.ErrnoException }>((resolve) => {
    child.on('error', (error: NodeJS.ErrnoException) => resolve({ code: null, signal: null, error }));
    child.on('exit', (code, signal) => resolve({ code, signal }));
  });
  for (const s of FORWARDED) process.off(s, forward);
  if (result.error) {
    const notFound = result.error.code === 'ENOENT';
    process.stderr.write(`zonefuse: ${cmd}: ${notFound ? 'command not found' : result.error.message}\n`);
    process.exitCode = notFound ? 127 : 126;
    return;
  }
  if (result.signal) {
    process.kill(process.pid, result.signal);
    process.exitCode = 128 + (os.signals[result.signal] ?? 0);
    return;
  }
  process.exitCode = result.code ?? 1;
}
