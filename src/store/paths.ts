/** The files of one namespace in a store directory (docs/format.md §1). */
import * as path from 'node:path';

export const DATA_SUFFIX = '.data';
export const META_SUFFIX = '.zmeta';
export const UNDO_SUFFIX = '.undo';

export function namespacePaths(dir: string, name: string): { data: string; meta: string; undo: string } {
  return {
    data: path.join(dir, name + DATA_SUFFIX),
    meta: path.join(dir, name + META_SUFFIX),
    undo: path.join(dir, name + UNDO_SUFFIX),
  };
}
