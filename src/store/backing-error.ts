/**
 * Failures of the file system under the store (PRODUCT.md §12): ENOSPC, EDQUOT, EIO and the like
 * from the data file, the sidecar or the undo log. The store throws them as BackingStoreError,
 * after putting its state back to exactly what was stored; callers map `code` to their errno.
 */
import { constants as osConstants } from 'node:os';

/** What the store was doing to the file when the file system refused. */
export type BackingOp = 'read' | 'write' | 'flush' | 'punch' | 'truncate' | 'stat';

export class BackingStoreError extends Error {
  /** Errno name from the file system, e.g. ENOSPC. */
  readonly code: string;
  /** Positive errno value (EIO when the file system's error had none). */
  readonly errno: number;
  /**
   * Bytes of the failed request that were stored and are acknowledged: a write cut short by the
   * file system keeps the whole LBAs that landed (their zone's write pointer moved over them).
   * Layers above add what they stored earlier in the same request.
   */
  stored: number;

  constructor(readonly file: string, readonly op: BackingOp, cause: NodeJS.ErrnoException, stored = 0) {
    const code = cause.code ?? 'EIO';
    const reason = cause.message.replace(/^[A-Z0-9]+: /, '').replace(/, \w+$/, '');
    super(`${file}: ${op} failed: ${code} (${reason})`);
    this.name = 'BackingStoreError';
    this.code = code;
    this.errno = (osConstants.errno as Record<string, number>)[code] ?? osConstants.errno.EIO;
    this.stored = stored;
  }
}

/** A system call's error (it has an errno code), as opposed to a bug or a refused argument. */
export function isSystemError(e: unknown): e is NodeJS.ErrnoException {
  return e instanceof Error && typeof (e as NodeJS.ErrnoException).code === 'string' && /^E[A-Z0-9]+$/.test((e as NodeJS.ErrnoException).code!);
}

/** `e` as a BackingStoreError on `file` when it is a system error; anything else unchanged. */
export function backingError(file: string, op: BackingOp, e: unknown, stored = 0): unknown {
  if (e instanceof BackingStoreError) return e;
  return isSystemError(e) ? new BackingStoreError(file, op, e, stored) : e;
}

/** Bytes a failed writeFully stored before the error (io.ts records them on the error). */
export function bytesWritten(e: unknown): number {
  return (e as { bytesWritten?: number } | undefined)?.bytesWritten ?? 0;
}

/**
 * Where failures go that fail no caller (a reset zone's space that cannot be freed: the reset
 * itself succeeded): to the listener a mount sets (its `errors` file and log), else the log.
 */
export class FailureReporter {
  listener: ((e: BackingStoreError) => void) | undefined;

  constructor(private readonly log: { error(obj: object, msg: string): void }) {}

  report(e: BackingStoreError): void {
    if (this.listener) this.listener(e);
    else this.log.error({ file: e.file, op: e.op, errno: e.code }, e.message);
  }
}
