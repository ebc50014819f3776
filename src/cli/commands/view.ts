/**
 * `zonefuse view MNT [--port N]`: the live web view of a mount. The first line on stdout is the
 * page's URL (with its token); the server runs until Ctrl-C or SIGTERM.
 */
import { startViewServer } from '../../view/server.js';
import { CliError, resolveTarget } from '../target.js';

export async function viewCommand(target: string, flags: { port?: number }): Promise<void> {
  const t = resolveTarget(target);
  if (!t.mount) throw new CliError(`view follows a running device: ${t.storeDir} is not mounted (zonefuse mount it first)`);
  const mnt = t.mount.mountpoint;
  let server;
  try {
    server = await startViewServer(mnt, { port: flags.port });
  } catch (e) {
    throw new CliError((e as Error).message);
  }
  process.stdout.write(`${server.url}\n`);
  process.stderr.write(`zonefuse view: following ${mnt} on 127.0.0.1 only; Ctrl-C to stop\n`);
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.off(s, stop);
      void server.close().then(resolve);
    };
    for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(s, stop);
  });
}
