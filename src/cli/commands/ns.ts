/** Namespace management of a store: list, attach, detach, delete (create is `zonefuse create`). */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Store, StoreError, listNamespaces } from '../../store/store.js';
import { StoredNamespace } from '../../store/stored-namespace.js';
import { Flag } from '../../store/format.js';
import { formatSubsystemInfo } from '../../format/info.js';
import { checkNamespaceName, checkOneLine, resolveTarget } from '../target.js';
import { writeControlFile } from '../control.js';

/** A subsystem command through the mount's top-level ctl. */
export function sendToSubsystem(mnt: string, line: string): void {
  checkOneLine(line);
  writeControlFile(mnt, line, line);
}

export function nsListCommand(target: string): void {
  const t = resolveTarget(target);
  if (t.mount) {
    process.stdout.write(fs.readFileSync(path.join(t.mount.mountpoint, 'info'), 'utf8'));
    return;
  }
  const entries = listNamespaces(t.storeDir).map((name) => {
    const header = StoredNamespace.peekHeader(t.storeDir, name);
    return { name, attached: (header.flags & Flag.DETACHED) === 0, header };
  });
  process.stdout.write(formatSubsystemInfo(entries));
}

export function nsActionCommand(action: 'attach' | 'detach' | 'delete', target: string, name: string, flags: { force?: boolean }): void {
  checkNamespaceName(name);
  const t = resolveTarget(target);
  const line = `${action} ${name}${action === 'delete' && flags.force ? ' force' : ''}`;
  if (t.mount) {
    sendToSubsystem(t.mount.mountpoint, line);
  } else {
    // Before opening (which takes the lock, a file): a directory that is no store stays as it was.
    if (!listNamespaces(t.storeDir).includes(name)) throw new StoreError(`store ${t.storeDir} has no namespace ${name}`, 'ENOENT');
    const store = Store.open(t.storeDir, { command: `zonefuse ns ${line}` });
    try {
      if (action === 'attach') store.attach(name);
      else if (action === 'detach') store.detach(name);
      else store.deleteNamespace(name);
    } finally {
      store.close();
    }
  }
  const done = { attach: 'attached', detach: 'detached (its files stay in the store)', delete: 'deleted' }[action];
  process.stdout.write(`${name}: ${done}\n`);
}
