import * as path from 'node:path';
import { checkStore } from '../../store/check.js';

export function checkCommand(store: string, flags: { repair?: boolean }): void {
  const dir = path.resolve(store);
  const r = checkStore(dir, { repair: flags.repair === true });
  for (const f of r.findings) process.stdout.write(`${f.level}: ${f.ns}: ${f.message}\n`);
  const repaired = r.findings.filter((f) => f.level === 'repaired').length;
  process.stdout.write(
    `checked ${r.namespaces} namespace${r.namespaces === 1 ? '' : 's'}, ${r.zones} zones: ` +
      `${r.errors} error${r.errors === 1 ? '' : 's'}${repaired ? `, ${repaired} repaired` : ''}\n`,
  );
  if (r.errors > 0) process.exitCode = 1;
}
