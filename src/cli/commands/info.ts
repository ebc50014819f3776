import { StoredNamespace } from '../../store/stored-namespace.js';
import { StoreLock } from '../../store/lock.js';
import { listNamespaces } from '../../store/store.js';
import { deviceInfo, formatInfo, namespaceInfo, sidecarInfo, InfoEntry } from '../../format/info.js';
import { resolveTarget, pickNamespace, CliError } from '../target.js';
import { ocssdGeometry } from '../../format/ocssd.js';

/** Reads the files directly (read-only), so it works on mounted and unmounted stores alike. */
export function infoCommand(target: string, flags: { ns?: string; format?: 'text' | 'ocssd' }): void {
  const t = resolveTarget(target);
  const names = flags.ns !== undefined ? [pickNamespace(t.storeDir, flags.ns)] : listNamespaces(t.storeDir);
  if (flags.format === 'ocssd') {
    process.stdout.write(ocssdInfo(t.storeDir, names));
    return;
  }
  const owner = StoreLock.owner(t.storeDir);
  const head: InfoEntry[] = [
    ['store', t.storeDir],
    ['in_use_by', owner ? `pid ${owner.pid} (${owner.command})` : 'nobody'],
  ];
  if (t.mount) {
    head.push(['mounted_at', t.mount.mountpoint]);
    // The serving daemon's owner record says `zonefuse mount --fuse <backend> …`.
    const backend = /(?:^| )--fuse (\S+)/.exec(owner?.command ?? '')?.[1];
    if (backend) head.push(['fuse_backend', backend]);
  }
  let out = formatInfo(head);
  for (const name of names) {
    const ns = StoredNamespace.open(t.storeDir, name, { readOnly: true });
    try {
      const entries: InfoEntry[] = [
        ...namespaceInfo(name, ns.engine),
        ['attached', ns.detached ? 'no' : 'yes'],
        ...deviceInfo(ns),
        ['data_file', ns.dataPath],
        ['data_file_allocated', ns.allocatedBytes()],
        ['metadata_file', ns.metaPath],
        ...sidecarInfo(ns.info),
      ];
      out += '\n' + formatInfo(entries);
    } finally {
      ns.close();
    }
  }
  process.stdout.write(out);
}

/** The OCSSD 2.0 geometry of each zoned namespace (`zonefuse info --format ocssd`). */
function ocssdInfo(dir: string, names: string[]): string {
  const parts: string[] = [];
  for (const name of names) {
    const ns = StoredNamespace.open(dir, name, { readOnly: true });
    try {
      if (!ns.engine.zoned) {
        if (names.length === 1) throw new CliError(`namespace ${name} is not zoned: it has no OCSSD geometry`);
        continue;
      }
      parts.push(formatInfo([['namespace', name], ...ocssdGeometry(ns.engine)]));
    } finally {
      ns.close();
    }
  }
  return parts.join('\n');
}
