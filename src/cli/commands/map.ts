/**
 * `zonefuse map MNT [--ns NAME] [--watch]`: the terminal zone map. It reads the namespace through
 * the mount's zones.bin like any client (an unmounted store is read from its files, once);
 * `--watch` polls the 64-byte header and redraws when the generation changes or the terminal is
 * resized, until q, Ctrl-C, SIGTERM or a hang-up.
 */
import * as path from 'node:path';
import { StoredNamespace } from '../../store/stored-namespace.js';
import { encodeZonesBin } from '../../format/zones-bin.js';
import { ZoneTable, ZoneTableReader, mountedNamespaces, tableFromZonesBin } from '../../client/zone-table.js';
import { renderMap, terminalStyle } from '../../view/terminal-map.js';
import { CliError, pickNamespace, resolveTarget } from '../target.js';

export interface MapFlags {
  ns?: string;
  watch?: boolean;
}

/**
 * How often --watch looks at the header: a change shows within one period plus a read and a
 * redraw. While zones keep changing (two polls in a row read records) the pause is at least
 * twice the last poll, so following a large namespace leaves the daemon most of its time.
 */
const WATCH_PERIOD_MS = 50;

/** The namespace of a mount to map: --ns, or the only zoned one. */
export function pickMountedNamespace(mnt: string, storeDir: string, ns: string | undefined): string {
  const names = mountedNamespaces(mnt);
  if (ns !== undefined) {
    if (names.includes(ns)) return ns;
    pickNamespace(storeDir, ns); // fails with the store's list when the name is unknown
    throw new CliError(`namespace ${ns} is not served by ${mnt} (detached, or not zoned)`);
  }
  if (names.length === 1) return names[0]!;
  if (names.length === 0) throw new CliError(`${mnt} serves no zoned namespace`);
  throw new CliError(`${mnt} serves several namespaces (${names.join(', ')}): choose one with --ns`);
}

function screen(): { width: number; height: number | undefined } {
  const out = process.stdout;
  if (out.isTTY) return { width: out.columns || 80, height: out.rows || undefined };
  const env = (k: string): number | undefined => (Number(process.env[k]) > 0 ? Number(process.env[k]) : undefined);
  return { width: env('COLUMNS') ?? 80, height: env('LINES') };
}

function draw(t: ZoneTable, name: string, reserve = 0): string {
  const { width, height } = screen();
  return renderMap(t, {
    name, width, height: height === undefined ? undefined : height - reserve,
    style: terminalStyle(process.stdout.isTTY === true, process.env),
  });
}

export async function mapCommand(target: string, flags: MapFlags): Promise<void> {
  const t = resolveTarget(target);
  if (!t.mount) {
    if (flags.watch) throw new CliError(`map --watch follows a running device: ${t.storeDir} is not mounted`);
    const name = pickNamespace(t.storeDir, flags.ns);
    const ns = StoredNamespace.open(t.storeDir, name, { readOnly: true });
    try {
      if (!ns.engine.zoned) throw new CliError(`namespace ${name} is not zoned`);
      process.stdout.write(draw(tableFromZonesBin(encodeZonesBin({ engine: ns.engine, generation: 0n })), name));
    } finally {
      ns.close();
    }
    return;
  }
  const name = pickMountedNamespace(t.mount.mountpoint, t.storeDir, flags.ns);
  const reader = new ZoneTableReader(path.join(t.mount.mountpoint, `${name}.zones`));
  const first = await reader.poll();
  if (!flags.watch) {
    process.stdout.write(draw(first!, name));
    return;
  }
  await watch(reader, name);
}

/** Redraw on every change until asked to stop; a full-screen view on a terminal, frames in a pipe. */
async function watch(reader: ZoneTableReader, name: string): Promise<void> {
  const out = process.stdout;
  const tty = out.isTTY === true;
  let stopped = false;
  let resized = false;
  let wake: (() => void) | undefined;
  const stop = (): void => {
    stopped = true;
    wake?.();
  };
  const onResize = (): void => {
    resized = true;
    wake?.();
  };
  const onKey = (key: Buffer): void => {
    // Raw mode: Ctrl-C arrives as a byte, not a signal.
    if (key.includes(0x03) || key.includes(0x71 /* q */) || key.includes(0x04)) stop();
  };
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const s of signals) process.on(s, stop);
  const keyboard = tty && process.stdin.isTTY === true;
  if (tty) {
    out.on('resize', onResize);
    out.write('\x1b[?1049h\x1b[?25l'); // alternate screen, hidden cursor
  }
  if (keyboard) {
    process.stdin.setRawMode(true);
    process.stdin.on('data', onKey);
    process.stdin.resume();
  }
  let frame = '';
  let failure: unknown;
  let pollMs = 0;
  let streak = 0;
  try {
    for (let table = reader.current; !stopped;) {
      if (table || resized) {
        resized = false;
        const t = reader.current!;
        if (tty) {
          frame = draw(t, name, 1);
          out.write('\x1b[H' + frame.replace(/\n/g, '\x1b[K\n') + '\x1b[2mwatching: q or Ctrl-C to quit\x1b[0m\x1b[K\x1b[J');
        } else {
          frame = draw(t, name);
          out.write(frame + '\n');
        }
      }
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, streak >= 2 ? Math.max(WATCH_PERIOD_MS, 2 * pollMs) : WATCH_PERIOD_MS);
      });
      wake = undefined;
      const t0 = performance.now();
      if (!stopped) table = await reader.poll();
      pollMs = performance.now() - t0;
      streak = table ? streak + 1 : 0;
    }
  } catch (e) {
    failure = e;
  } finally {
    for (const s of signals) process.off(s, stop);
    if (keyboard) {
      process.stdin.off('data', onKey);
      process.stdin.setRawMode(false);
      process.stdin.pause();
    }
    if (tty) {
      out.off('resize', onResize);
      out.write('\x1b[?25h\x1b[?1049l');
      // Leave the last picture on the normal screen.
      if (frame) out.write(frame);
    }
  }
  if (failure) throw new CliError((failure as Error).message);
}
