/**
 * Getting a mount point ready, for every backend.
 */
import * as fs from 'node:fs';
import { Logger } from '../log.js';
import { findMount, fusermountLazy } from './mounts.js';

/**
 * Make `mnt` usable as a mount point: create it if missing, clean up a dead mount left by a
 * killed daemon (ENOTCONN), refuse a live mount.
 */
export function prepareMountpoint(mnt: string, log: Logger): void {
  try {
    fs.statSync(mnt);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      fs.mkdirSync(mnt, { recursive: true });
      return;
    }
    if (code === 'ENOTCONN' || code === 'ECONNABORTED') {
      log.warn({ mountpoint: mnt }, `cleaning up a stale mount at ${mnt} (transport endpoint is not connected: its daemon died)`);
      fusermountLazy(mnt);
      fs.statSync(mnt);
      return;
    }
    throw e;
  }
  const existing = findMount(mnt);
  if (existing) {
    throw new Error(`${mnt} is already a mount point (${existing.source}, type ${existing.type}); unmount it first`);
  }
  if (!fs.statSync(mnt).isDirectory()) throw new Error(`mount point ${mnt} is not a directory`);
}
