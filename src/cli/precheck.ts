/**
 * What `zonefuse mount` checks before it loads a FUSE backend: the cheap requirements of that
 * backend (no native code loaded), then the backend module itself, with a load failure turned
 * into the same one-line message `zonefuse doctor` prints.
 */
import { BACKEND_REQUIREMENTS } from '../fuse/requirements.js';
import { Requirement, RequirementError, requireCheap } from '../system/requirements.js';
import { defaultStoreDir } from './args.js';
import { CliError } from './target.js';

/** The default store must be creatable (a mount with no store argument creates it). */
export function defaultStoreRequirement(): Requirement {
  return { kind: 'writable-dir', path: defaultStoreDir(), usedFor: 'default store' };
}

function requirementsOf(backend: string): readonly Requirement[] {
  const reqs = BACKEND_REQUIREMENTS[backend];
  if (!reqs) throw new CliError(`unknown FUSE backend ${backend} (known: ${Object.keys(BACKEND_REQUIREMENTS).join(', ')})`);
  return reqs;
}

/** Throws a RequirementError (one line) for the first cheap requirement that is missing. */
export async function precheckMount(backend: string, usesDefaultStore: boolean): Promise<void> {
  const reqs = [...requirementsOf(backend)];
  if (usesDefaultStore) reqs.push(defaultStoreRequirement());
  await requireCheap(reqs);
}

/**
 * Imports the module that serves a mount with `backend`; if loading its native code fails,
 * the backend's native requirement explains why in one line.
 */
export async function loadBackend<T>(backend: string, load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (e) {
    const native = requirementsOf(backend).find((r) => r.kind === 'native');
    if (native?.kind !== 'native') throw e;
    throw new RequirementError({ ok: false, subject: native.name, detail: native.explain(e as Error) });
  }
}
