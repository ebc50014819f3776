/** Device-level CLI commands: volatile write cache, power events, injected faults. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { listNamespaces } from '../../store/store.js';
import { namespacePaths } from '../../store/paths.js';
import { runControl, readControl } from '../control.js';
import { resolveTarget, CliError, pickNamespace } from '../target.js';
import { formatLossPolicy, parseLossPolicy } from '../../engine/loss-policy.js';

const NOT_RUNNING = (what: string): string =>
  `${what} needs a running device: mount $STORE first (a stopped device has already lost power)`;

export function cacheCommand(target: string, state: string, flags: { ns?: string }): void {
  const r = runControl(target, flags.ns, `cache ${state}`);
  process.stdout.write(`${r.ns}: volatile write cache ${state}\n`);
}

/** Power-cycle one namespace (--ns) or every namespace of the store (the subsystem). */
export function powerCycleCommand(target: string, flags: { ns?: string; shutdown?: boolean; keep?: string }): void {
  let keep = '';
  if (flags.keep !== undefined) {
    if (flags.shutdown) throw new CliError('--keep is for a power loss; a --shutdown flushes everything first');
    try {
      keep = formatLossPolicy(parseLossPolicy(flags.keep));
    } catch (e) {
      throw new CliError(`--keep: ${(e as Error).message}`);
    }
  }
  const t = resolveTarget(target);
  const names = flags.ns !== undefined ? [flags.ns] : listNamespaces(t.storeDir);
  if (!t.mount) throw new CliError(NOT_RUNNING('power-cycle').replace('$STORE', t.storeDir));
  const verb = flags.shutdown ? 'shutdown' : keep && keep !== 'none' ? `power-cycle keep=${keep}` : 'power-cycle';
  for (const ns of names) {
    const r = runControl(target, ns, verb);
    process.stdout.write(`${r.ns}: ${flags.shutdown ? 'clean shutdown and power-up' : `power lost and restored${keep && keep !== 'none' ? ` (kept: ${keep})` : ''}`}\n`);
  }
}

export function faultAddCommand(target: string, kind: string, start: string, count: string, flags: { ns?: string; once?: boolean; partial?: boolean }): void {
  const line = `fault ${kind} ${start} ${count}${flags.once ? ' once' : ''}${flags.partial ? ' partial' : ''}`;
  const r = runControl(target, flags.ns, line);
  process.stdout.write(`${r.ns}: ${line}: done\n`);
}

export function faultRandomCommand(target: string, seed: string, writes: string, reads: string | undefined, flags: { ns?: string }): void {
  const line = `fault random ${seed} ${writes} ${reads ?? '0'}`;
  const r = runControl(target, flags.ns, line);
  process.stdout.write(`${r.ns}: ${line}: done\n`);
}

export function faultRecommendCommand(target: string, which: string, zone: string, flags: { ns?: string; off?: boolean }): void {
  const line = `recommend ${which} ${zone}${flags.off ? ' off' : ''}`;
  const r = runControl(target, flags.ns, line);
  process.stdout.write(`${r.ns}: ${line}: done\n`);
}

export function faultClearCommand(target: string, flags: { ns?: string }): void {
  const r = runControl(target, flags.ns, 'fault clear');
  process.stdout.write(`${r.ns}: every injected fault cleared\n`);
}

export function faultListCommand(target: string, flags: { ns?: string }): void {
  const text = readControl(target, flags.ns, 'faults', (ns) => {
    const lines = ns.listFaults();
    return lines.length ? lines.join('\n') + '\n' : '';
  });
  process.stdout.write(text);
}

/** `zonefuse zrwa-flush TARGET ZONE LBA`: commit a zone's ZRWA up to and including LBA. */
export function zrwaFlushCommand(target: string, zone: string, lba: string, flags: { ns?: string }): void {
  const line = `zrwa-flush ${zone} ${lba}`;
  const r = runControl(target, flags.ns, line);
  process.stdout.write(`${r.ns}: ${line}: done\n`);
}

/** `zonefuse excursion TARGET ZONE`: the device finishes an active zone by itself. */
export function excursionCommand(target: string, zone: string, flags: { ns?: string }): void {
  const r = runControl(target, flags.ns, `excursion ${zone}`);
  process.stdout.write(`${r.ns}: zone ${zone} finished by the controller\n`);
}

/** `zonefuse clock TARGET +SECONDS`: advance the device clock (RRL/FRL timers expire). */
export function clockCommand(target: string, amount: string, flags: { ns?: string }): void {
  const t = resolveTarget(target);
  const names = flags.ns !== undefined ? [flags.ns] : listNamespaces(t.storeDir);
  for (const ns of names) {
    const r = runControl(target, ns, `clock ${amount.startsWith('+') ? amount : '+' + amount}`);
    process.stdout.write(`${r.ns}: device clock advanced by ${amount.replace(/^\+/, '')}\n`);
  }
}

/** `zonefuse events TARGET [--follow]`: the device's own zone changes, like `tail [-f]`. */
export async function eventsCommand(target: string, flags: { ns?: string; follow?: boolean }): Promise<void> {
  const t = resolveTarget(target);
  const name = pickNamespace(t.storeDir, flags.ns);
  const file = t.mount ? path.join(t.mount.mountpoint, `${name}.zones`, 'events') : namespacePaths(t.storeDir, name).events;
  let pos = 0;
  const pump = (): void => {
    let size = 0;
    try {
      size = fs.statSync(file).size;
    } catch {
      return; // no event yet
    }
    if (size <= pos) return;
    const fd = fs.openSync(file, 'r');
    try {
      const buf = Buffer.alloc(size - pos);
      const n = fs.readSync(fd, buf, 0, buf.length, pos);
      pos += n;
      process.stdout.write(buf.subarray(0, n));
    } finally {
      fs.closeSync(fd);
    }
  };
  pump();
  if (!flags.follow) return;
  await new Promise<never>(() => setInterval(pump, 250));
}
