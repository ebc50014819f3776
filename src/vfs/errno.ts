/**
 * Errno values, open flags and errno names shared by the vfs modules.
 */
import { constants as osConstants } from 'node:os';
import { constants as fsConstants } from 'node:fs';
import { ERRNO } from '../engine/status.js';

export const E = osConstants.errno;
export const O_ACCMODE = 3;
export const O_WRONLY = 1;
export const O_RDWR = 2;
export const O_APPEND = fsConstants.O_APPEND;
export const O_DIRECT = fsConstants.O_DIRECT;

// Node's table lacks a few Linux names (ETOOMANYREFS): the engine's table fills them in.
const ERRNO_NAMES = new Map<number, string>([...Object.entries(E), ...Object.entries(ERRNO)].map(([k, v]) => [v as number, k]));

export function errnoName(code: number): string {
  return ERRNO_NAMES.get(code) ?? `errno ${code}`;
}
