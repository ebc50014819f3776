/**
 * What a part of zonefuse needs from the machine, as data, and one check per requirement.
 *
 * Each part declares its own list next to its code (the FUSE backends in src/fuse/requirements.ts,
 * the native pieces in src/native/requirements.ts); `zonefuse doctor` checks the union and
 * `zonefuse mount` checks the cheap requirements of the backend it is about to use. A failed
 * check yields one line that says what is missing and how to get it (the apt package on Debian),
 * the same line in both places.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import { existingAncestor, findLibrary, findProgram, fuseDeviceState, kernelHasFuse } from './probe.js';
import { KERNEL_FUSE_FEATURES, KernelFuseFeatureName, KernelFuseInfo, offers } from './kernel-fuse.js';

export type Requirement =
  /** /dev/fuse, openable read-write. */
  | { kind: 'fuse-device' }
  /** The kernel has the fuse file system type. */
  | { kind: 'kernel-fuse' }
  /** A kernel FUSE protocol feature; missing ones cost performance, not function. */
  | { kind: 'kernel-feature'; feature: KernelFuseFeatureName; usedFor: string }
  /** A program found on PATH (or in the sbin directories). */
  | { kind: 'program'; name: string; apt: string; usedFor: string }
  /** A shared library, by soname. */
  | { kind: 'library'; soname: string; apt: string; usedFor: string }
  /** A directory that is, or can be created, writable. */
  | { kind: 'writable-dir'; path: string; usedFor: string }
  /**
   * Native code that must load in this process (a Node addon, a library). `load` returns a short
   * description on success and throws on failure; `explain` turns its error into the fix.
   */
  | { kind: 'native'; name: string; usedFor: string; load: () => Promise<string>; explain: (e: Error) => string };

export interface CheckResult {
  ok: boolean;
  /** What was checked, e.g. 'libfuse2'. */
  subject: string;
  /** What was found, or what is missing and how to get it. */
  detail: string;
}

/** Requirements cheap enough to check before every mount: no native code is loaded. */
export function isCheap(r: Requirement): boolean {
  return r.kind !== 'native' && r.kind !== 'kernel-feature';
}

/** A key that identifies the same requirement declared by two parts (checked once). */
export function requirementKey(r: Requirement): string {
  switch (r.kind) {
    case 'fuse-device':
    case 'kernel-fuse':
      return r.kind;
    case 'kernel-feature':
      return `${r.kind}:${r.feature}`;
    case 'program':
      return `${r.kind}:${r.name}`;
    case 'library':
      return `${r.kind}:${r.soname}`;
    case 'writable-dir':
      return `${r.kind}:${r.path}`;
    case 'native':
      return `${r.kind}:${r.name}`;
  }
}

/** Checks one requirement. `kernel` is needed for kernel-feature requirements. */
export async function checkRequirement(r: Requirement, kernel?: KernelFuseInfo): Promise<CheckResult> {
  switch (r.kind) {
    case 'fuse-device': {
      const s = fuseDeviceState();
      return {
        ok: s.ok,
        subject: '/dev/fuse',
        detail: s.ok ? s.detail : `${s.detail}: load the fuse module (modprobe fuse), or start the container with --device /dev/fuse --cap-add SYS_ADMIN`,
      };
    }
    case 'kernel-fuse': {
      if (!kernelHasFuse()) {
        return { ok: false, subject: 'kernel FUSE', detail: 'the kernel has no fuse file system (/proc/filesystems): modprobe fuse, or use a kernel with CONFIG_FUSE_FS' };
      }
      let protocol = '';
      if (kernel?.source === 'INIT') protocol = `, protocol 7.${kernel.minor} (read from an INIT request)`;
      else if (kernel) protocol = `; protocol not read from an INIT request (${kernel.unprobed}), features judged by the release`;
      return { ok: true, subject: 'kernel FUSE', detail: `Linux ${os.release()} has the fuse file system${protocol}` };
    }
    case 'kernel-feature': {
      const f = KERNEL_FUSE_FEATURES[r.feature];
      if (!kernel) throw new Error('kernel-feature requirements need the kernel FUSE info');
      const ok = offers(kernel, r.feature);
      const where = kernel.source === 'INIT' ? 'the INIT request' : `release ${kernel.release}`;
      const since = `FUSE 7.${f.minor}, Linux ${f.linux.join('.')}`;
      return {
        ok,
        subject: `kernel ${f.flag}`,
        detail: ok
          ? `offered (${where}): ${f.what} for ${r.usedFor} (${since})`
          : `not offered (${where}): ${r.usedFor} works without ${f.what}, slower (${since})`,
      };
    }
    case 'program': {
      const p = findProgram(r.name);
      return p
        ? { ok: true, subject: r.name, detail: p }
        : { ok: false, subject: r.name, detail: `not found (needed by ${r.usedFor}): apt install ${r.apt}` };
    }
    case 'library': {
      const p = findLibrary(r.soname);
      return p
        ? { ok: true, subject: r.apt, detail: p }
        : { ok: false, subject: r.apt, detail: `${r.soname} not found (needed by ${r.usedFor}): apt install ${r.apt}` };
    }
    case 'writable-dir': {
      const base = existingAncestor(r.path);
      try {
        fs.accessSync(base, fs.constants.W_OK | fs.constants.X_OK);
        return { ok: true, subject: r.usedFor, detail: fs.existsSync(r.path) ? `${r.path} is writable` : `${r.path} can be created` };
      } catch {
        return { ok: false, subject: r.usedFor, detail: `${r.path}: ${base} is not writable by this user` };
      }
    }
    case 'native':
      try {
        return { ok: true, subject: r.name, detail: await r.load() };
      } catch (e) {
        return { ok: false, subject: r.name, detail: r.explain(e as Error) };
      }
  }
}

/** doctor's line for a result; the part after the status word is also mount's error message. */
export function formatCheck(r: CheckResult): string {
  return `${r.ok ? 'ok' : 'missing'}`.padEnd(8) + `${r.subject}: ${r.detail}`;
}

/** The one-line message for a failed check, as `zonefuse mount` prints it. */
export function missingMessage(r: CheckResult): string {
  return `missing ${r.subject}: ${r.detail}`;
}

/** Error thrown when a requirement is not met: its message is the one line to print. */
export class RequirementError extends Error {
  constructor(readonly result: CheckResult) {
    super(missingMessage(result));
    this.name = 'RequirementError';
  }
}

/** Checks the cheap requirements in order; throws a RequirementError for the first missing one. */
export async function requireCheap(reqs: readonly Requirement[]): Promise<void> {
  for (const r of reqs) {
    if (!isCheap(r)) continue;
    const res = await checkRequirement(r);
    if (!res.ok) throw new RequirementError(res);
  }
}

/**
 * The shared-library name in a dlopen error ("libfuse.so.2: cannot open shared object file"),
 * so that a failed load can name the package that provides it.
 */
export function missingSoname(e: Error): string | undefined {
  return /(lib[\w+.-]+\.so[\d.]*): cannot open shared object file/.exec(e.message)?.[1];
}

/** The first line of an error message, for one-line reports. */
export function firstLine(e: Error): string {
  return (e.message.split('\n')[0] ?? '').trim();
}
