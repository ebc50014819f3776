/**
 * Where zonefuse's own native pieces are, in a checkout and in an installed package.
 *
 * Each piece lives in native/<piece>/ and its build.sh builds into native/<piece>/build/. The
 * package tarball ships those build outputs (built by `prepack` when it is packed, on linux-x64)
 * together with the sources and build.sh, so the path is the same in both places:
 * <package root>/native/<piece>/build/<file>. What differs is the advice when a piece is missing
 * or was built for another machine.
 *
 * Checked at start (when a command first asks for a piece): the file exists and its ELF header
 * names this machine's architecture. A library that then fails to load (a glibc older than the
 * one it was built against, a missing dependency) is reported by whoever loads it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package root: the checkout, or node_modules/zonefuse when installed (dist/native/ is two below). */
export const PACKAGE_ROOT = path.resolve(fileURLToPath(new URL('../../', import.meta.url)));

/** A checkout has the TypeScript sources; the tarball ships only dist/. */
export function isCheckout(root = PACKAGE_ROOT): boolean {
  return fs.existsSync(path.join(root, 'src', 'index.ts'));
}

/** ELF e_machine values by Node's process.arch. */
const ELF_MACHINE: Record<string, number> = {
  ia32: 3, arm: 40, x64: 62, arm64: 183, riscv64: 243, ppc64: 21, s390x: 22, loong64: 258,
};
const ELF_ARCH = Object.fromEntries(Object.entries(ELF_MACHINE).map(([a, m]) => [m, a]));

/** The architecture an ELF file was built for (process.arch spelling), or undefined if not ELF. */
export function elfArch(file: string): string | undefined {
  const fd = fs.openSync(file, 'r');
  try {
    const h = Buffer.alloc(20);
    if (fs.readSync(fd, h, 0, 20, 0) < 20 || h.readUInt32BE(0) !== 0x7f454c46) return undefined;
    const machine = h[5] === 2 ? h.readUInt16BE(18) : h.readUInt16LE(18);
    return ELF_ARCH[machine] ?? `ELF machine ${machine}`;
  } finally {
    fs.closeSync(fd);
  }
}

export interface NativePiece {
  /** Directory name under native/. */
  name: string;
  /** The artifact build.sh leaves in native/<name>/build/. */
  file: string;
  /** What it is for, e.g. 'the libfuse3 backend'. */
  usedFor: string;
  /** Debian packages build.sh needs besides gcc (headers), for the rebuild advice. */
  buildApt?: readonly string[];
}

/** A native piece that cannot be used; the message is one line that says how to get it. */
export class NativeUnavailableError extends Error {
  constructor(readonly piece: NativePiece, message: string) {
    super(message);
    this.name = 'NativeUnavailableError';
  }
}

function buildAdvice(piece: NativePiece, root: string): string {
  const apt = ['gcc', ...(piece.buildApt ?? [])].join(' ');
  const script = path.join(root, 'native', piece.name, 'build.sh');
  if (isCheckout(root)) return `run scripts/setup, or bash ${path.relative(process.cwd(), script) || script} (needs apt install ${apt})`;
  return `build it on this machine: apt install ${apt} && bash ${script} (as the owner of ${root})`;
}

/** The artifact's absolute path; throws NativeUnavailableError if it is missing or foreign. */
export function nativeArtifact(piece: NativePiece, root = PACKAGE_ROOT): string {
  const file = path.join(root, 'native', piece.name, 'build', piece.file);
  if (!fs.existsSync(file)) {
    const what = isCheckout(root) ? 'is not built' : 'is not in this package';
    throw new NativeUnavailableError(piece, `${piece.usedFor} (${path.join('native', piece.name, 'build', piece.file)}) ${what}: ${buildAdvice(piece, root)}`);
  }
  const arch = elfArch(file);
  if (arch === undefined) throw new NativeUnavailableError(piece, `${piece.usedFor} (${file}) is not an ELF file: ${buildAdvice(piece, root)}`);
  if (arch !== process.arch) {
    throw new NativeUnavailableError(
      piece,
      `${piece.usedFor} (${file}) was built for linux-${arch}, this machine is ${process.platform}-${process.arch}: ${buildAdvice(piece, root)}`,
    );
  }
  return file;
}

/** How to repair an installation whose JavaScript dependencies or their prebuilt binaries are broken. */
export function reinstallAdvice(root = PACKAGE_ROOT): string {
  return isCheckout(root) ? 'run scripts/setup in the checkout' : 'reinstall zonefuse (npm install -g ./zonefuse-<version>.tgz)';
}

/**
 * One line for a native piece that was found but failed to load: a missing shared library (with
 * the package that provides it), a glibc older than the one it was built against, or else the
 * loader's own first line, with how to rebuild the piece.
 */
export function explainLoadFailure(piece: NativePiece, e: Error, libraries: Readonly<Record<string, string>> = {}, root = PACKAGE_ROOT): string {
  if (e instanceof NativeUnavailableError) return e.message;
  const soname = /(lib[\w+.-]+\.so[\d.]*): cannot open shared object file/.exec(e.message)?.[1];
  if (soname && libraries[soname]) return `${piece.usedFor} cannot load ${soname}: apt install ${libraries[soname]}`;
  const glibc = /version `(GLIBC_[\d.]+)' not found/.exec(e.message)?.[1];
  if (glibc) return `${piece.usedFor} was built against a newer glibc (${glibc}) than this machine's: ${buildAdvice(piece, root)}`;
  const first = (e.message.split('\n')[0] ?? '').trim();
  return `${piece.usedFor} does not load (${first}): ${buildAdvice(piece, root)}`;
}
