/** The files of one namespace in a store directory (docs/format.md §1). */
import * as path from 'node:path';

export const DATA_SUFFIX = '.data';
export const META_SUFFIX = '.zmeta';
export const UNDO_SUFFIX = '.undo';
export const EVENTS_SUFFIX = '.events';

/**
 * Mode of every file holding a namespace's data or metadata (data file, sidecar, undo log): the
 * owner's only, whatever the umask (which can only take bits away). Like the mount itself
 * (private unless `mount --allow-other`), a store does not show its data to other users.
 */
export const PRIVATE_FILE_MODE = 0o600;

export function namespacePaths(dir: string, name: string): { data: string; meta: string; undo: string; events: string } {
  return {
    data: path.join(dir, name + DATA_SUFFIX),
    meta: path.join(dir, name + META_SUFFIX),
    undo: path.join(dir, name + UNDO_SUFFIX),
    events: path.join(dir, name + EVENTS_SUFFIX),
  };
}
