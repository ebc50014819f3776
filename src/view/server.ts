/**
 * The web view's HTTP server (`zonefuse view`): bound to 127.0.0.1 only, every URL under a random
 * token (http://127.0.0.1:PORT/TOKEN/…), anything else refused with 403, and so is a Host header
 * that is not this server (DNS rebinding). The page is a plain file shipped in the package
 * (web/); the device reaches it through a server-sent event stream fed by the DeviceWatcher.
 *
 *   GET  /TOKEN/                       the page (and its view.js, view.css)
 *   GET  /TOKEN/api/events             event stream: layout, zones, log, gone
 *   GET  /TOKEN/api/state              what is known now, as JSON (counts per state, limits)
 *   GET  /TOKEN/api/ns/NAME/zone/Z     one zone's descriptor, JSON
 *   POST /TOKEN/api/ns/NAME/ctl        {"command": "open|close|finish|reset", "zone": Z}
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { stateName } from '../engine/zone.js';
import { DeviceWatcher, LogFrame, ZonesFrame } from './device-watcher.js';
import { STATE_STYLES, WEB_BACKGROUND } from './legend.js';

/** The page's files, beside dist/ in the package. */
const WEB_DIR = fileURLToPath(new URL('../../web/', import.meta.url));
const STATIC: Record<string, string> = {
  '': 'text/html; charset=utf-8',
  'view.js': 'text/javascript; charset=utf-8',
  'view.css': 'text/css; charset=utf-8',
};
const STATIC_FILE: Record<string, string> = { '': 'index.html', 'view.js': 'view.js', 'view.css': 'view.css' };

/** Zone commands the page may send; faults and power are left to the CLI. */
export const PAGE_COMMANDS = ['open', 'close', 'finish', 'reset'] as const;

const HEARTBEAT_MS = 15_000;

export interface ViewServer {
  url: string;
  token: string;
  port: number;
  close(): Promise<void>;
}

function b64(b: Buffer | undefined): string | undefined {
  return b?.toString('base64');
}

function sseZones(f: ZonesFrame): string {
  return JSON.stringify({
    ns: f.ns, generation: f.generation, openZones: f.openZones, activeZones: f.activeZones, full: f.full,
    zones: b64(f.zones), states: b64(f.states), fills: b64(f.fills),
  });
}

/** Timing-safe comparison of the token a request carries. */
function tokenMatches(given: string, token: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && crypto.timingSafeEqual(a, b);
}

export async function startViewServer(mnt: string, opts: { port?: number; token?: string } = {}): Promise<ViewServer> {
  const watcher = new DeviceWatcher(mnt);
  await watcher.start();
  const token = opts.token ?? crypto.randomBytes(18).toString('base64url');
  const streams = new Set<http.ServerResponse>();
  let port = 0;

  const send = (res: http.ServerResponse, status: number, body: string, type = 'text/plain; charset=utf-8'): void => {
    res.writeHead(status, {
      'Content-Type': type,
      'Cache-Control': 'no-store',
      'X-Content-Type-Options': 'nosniff',
      'Referrer-Policy': 'no-referrer',
      // Nothing from elsewhere: no fonts, scripts or frames from the internet.
      'Content-Security-Policy': "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
    });
    res.end(body);
  };
  const json = (res: http.ServerResponse, status: number, value: unknown): void => send(res, status, JSON.stringify(value) + '\n', 'application/json');

  const state = (): unknown => ({
    mount: mnt,
    legend: STATE_STYLES.map((s) => ({ state: s.state, key: s.key, label: s.label, color: s.color, tint: s.tint })),
    background: WEB_BACKGROUND,
    commands: PAGE_COMMANDS,
    namespaces: watcher.layout.map((l) => {
      const t = watcher.table(l.name);
      const counts: Record<string, number> = {};
      if (t) for (let z = 0; z < t.nrZones; z++) counts[stateName(t.state[z]!)] = (counts[stateName(t.state[z]!)] ?? 0) + 1;
      return { ...l, openZones: t?.header.openZones ?? 0, activeZones: t?.header.activeZones ?? 0, generation: t?.header.generation.toString(), counts };
    }),
  });

  const descriptor = (ns: string, z: number): unknown => {
    const t = watcher.table(ns)!;
    const r = t.record(z);
    return {
      ns, zone: z, state: stateName(r.state), type: r.type, start: r.start, wp: r.wp, capacity: r.capacity,
      written: t.dataLbas(z), lbasWritten: r.lbasWritten, resets: r.resets, finishes: r.finishes, attrs: r.attrs, flags: r.flags,
      zoneLbas: t.header.zoneLbas, lbaSize: t.header.lbaSize,
    };
  };

  const events = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-store', Connection: 'keep-alive', 'X-Accel-Buffering': 'no' });
    res.write('retry: 1000\n\n');
    streams.add(res);
    const put = (event: string, data: string): void => {
      res.write(`event: ${event}\ndata: ${data}\n\n`);
    };
    const unsubscribe = watcher.subscribe({
      layout: () => put('layout', JSON.stringify(state())),
      zones: (f: ZonesFrame) => put('zones', sseZones(f)),
      log: (f: LogFrame) => put('log', JSON.stringify(f)),
      gone: (message: string) => put('gone', JSON.stringify({ message })),
    });
    const beat = setInterval(() => res.write(': keep-alive\n\n'), HEARTBEAT_MS);
    req.on('close', () => {
      clearInterval(beat);
      unsubscribe();
      streams.delete(res);
    });
  };

  const command = async (req: http.IncomingMessage, res: http.ServerResponse, ns: string): Promise<void> => {
    if (!(req.headers['content-type'] ?? '').startsWith('application/json')) return json(res, 415, { error: 'send the command as application/json' });
    let body = '';
    for await (const chunk of req) {
      body += chunk;
      if (body.length > 4096) return json(res, 413, { error: 'command too long' });
    }
    let cmd: { command?: unknown; zone?: unknown };
    try {
      cmd = JSON.parse(body) as typeof cmd;
    } catch {
      return json(res, 400, { error: 'the body is not JSON' });
    }
    const t = watcher.table(ns)!;
    if (!PAGE_COMMANDS.includes(cmd.command as (typeof PAGE_COMMANDS)[number])) return json(res, 400, { error: `command must be one of ${PAGE_COMMANDS.join(', ')}` });
    if (!Number.isInteger(cmd.zone) || (cmd.zone as number) < 0 || (cmd.zone as number) >= t.nrZones) return json(res, 400, { error: `zone must be an integer from 0 to ${t.nrZones - 1}` });
    const line = `${cmd.command as string} ${cmd.zone as number}`;
    const dir = path.join(mnt, `${ns}.zones`);
    try {
      await fs.promises.writeFile(path.join(dir, 'ctl'), line + '\n');
    } catch (e) {
      // The daemon explains every refusal in the errors file beside ctl.
      const errors = await fs.promises.readFile(path.join(dir, 'errors'), 'utf8').catch(() => '');
      const why = errors.trimEnd().split('\n').at(-1)?.replace(/^\S+ /, '') ?? '';
      return json(res, 409, { error: `${line}: ${(e as NodeJS.ErrnoException).code ?? 'error'}${why ? ` (${why})` : ''}` });
    }
    json(res, 200, { ok: true, command: line });
  };

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    // Only this server's own name: a page elsewhere that resolves its name to 127.0.0.1 gets nothing.
    const host = req.headers.host ?? '';
    if (host !== `127.0.0.1:${port}` && host !== `localhost:${port}`) return send(res, 403, 'forbidden\n');
    const url = new URL(req.url ?? '/', `http://${host}`);
    const parts = url.pathname.split('/');
    // parts: ['', TOKEN, ...rest]
    if (parts.length < 2 || !tokenMatches(parts[1] ?? '', token)) return send(res, 403, 'forbidden: this URL needs the token zonefuse view printed\n');
    if (parts.length === 2) {
      res.writeHead(308, { Location: `/${token}/` });
      res.end();
      return;
    }
    const rest = parts.slice(2).join('/');
    const method = req.method ?? 'GET';
    if (method === 'GET' && rest in STATIC) {
      const body = await fs.promises.readFile(path.join(WEB_DIR, STATIC_FILE[rest]!), 'utf8');
      return send(res, 200, body, STATIC[rest]);
    }
    if (method === 'GET' && rest === 'api/events') return events(req, res);
    if (method === 'GET' && rest === 'api/state') return json(res, 200, state());
    const m = /^api\/ns\/([^/]+)\/(zone\/(\d+)|ctl)$/.exec(rest);
    if (m) {
      const ns = decodeURIComponent(m[1]!);
      if (!watcher.has(ns) || !watcher.table(ns)) return json(res, 404, { error: `no namespace ${ns}` });
      if (m[3] !== undefined && method === 'GET') {
        const z = Number(m[3]);
        if (z >= watcher.table(ns)!.nrZones) return json(res, 404, { error: `${ns} has no zone ${z}` });
        return json(res, 200, descriptor(ns, z));
      }
      if (m[2] === 'ctl' && method === 'POST') return command(req, res, ns);
      return json(res, 405, { error: `${method} is not allowed here` });
    }
    return send(res, 404, 'not found\n');
  };

  const server = http.createServer((req, res) => {
    handle(req, res).catch((e: Error) => {
      if (!res.headersSent) json(res, 500, { error: e.message });
      else res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => {
      watcher.stop();
      reject(e.code === 'EADDRINUSE' ? new Error(`port ${opts.port} is in use on 127.0.0.1`) : e);
    });
    server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
  });
  port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}/${token}/`,
    token,
    port,
    close: async () => {
      watcher.stop();
      for (const s of streams) s.end();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
