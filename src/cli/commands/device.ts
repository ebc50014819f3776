/** Device-level CLI commands: volatile write cache, power events, injected faults. */
import { listNamespaces } from '../../store/store.js';
import { runControl, readControl } from '../control.js';
import { resolveTarget, CliError } from '../target.js';
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
