/**
 * What is mounted where (/proc/mounts), without loading the FUSE binding: the CLI and the
 * library use this to find the daemon that serves a store.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';

/** Mounts carry `fsname=zonefuse:<store directory>`, which is how a store's mount is found. */
export const FSNAME_PREFIX = 'zonefuse:';

export interface MountEntry {
  source: string;
  mountpoint: string;
  type: string;
}

/** /proc/mounts escapes space, tab, newline and backslash as octal. */
function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

export function listMounts(): MountEntry[] {
  let text: string;
  try {
    text = fs.readFileSync('/proc/mounts', 'utf8');
  } catch {
    return [];
  }
  return text.split('\n').filter(Boolean).map((line) => {
    const [source = '', mountpoint = '', type = ''] = line.split(' ');
    return { source: unescapeMount(source), mountpoint: unescapeMount(mountpoint), type };
  });
}

export function findMount(mnt: string): MountEntry | undefined {
  const abs = path.resolve(mnt);
  return listMounts().reverse().find((m) => m.mountpoint === abs);
}

/** The store directory a zonefuse mount serves (from its fsname), or undefined. */
export function storeOfMount(m: MountEntry): string | undefined {
  return m.source.startsWith(FSNAME_PREFIX) ? m.source.slice(FSNAME_PREFIX.length) : undefined;
}

export function fusermountLazy(mnt: string): void {
  execFileSync('fusermount', ['-u', '-z', mnt], { stdio: 'ignore' });
}

