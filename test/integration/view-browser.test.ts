/**
 * `zonefuse view` in a real browser: Debian's chromium, headless, driven by playwright-core (never
 * a downloaded browser). The page is read the way a person sees it: the zone count it shows, the
 * colour of each cell on its canvas (mapped back to a state through the legend it draws), the
 * descriptor under the pointer. Also the security rules: 127.0.0.1 only, the token on every URL,
 * nothing changes without it. Every wait is for a condition, with generous limits.
 */
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { chromium, BrowserContext, Page } from 'playwright-core';
import { afterEach, describe, expect, it } from 'vitest';
import { CLI, Fixture, cli, mounted, sh, waitFor } from '../helpers/mount.js';
import { tmpDir } from '../helpers/tmp.js';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

let view: ChildProcess | undefined;
let browser: BrowserContext | undefined;

afterEach(async () => {
  await browser?.close().catch(() => undefined);
  browser = undefined;
  if (view && view.exitCode === null) {
    view.kill('SIGTERM');
    await waitFor(() => view!.exitCode !== null, 'view exit').catch(() => view!.kill('SIGKILL'));
  }
  view = undefined;
});

/** Start `zonefuse view` and wait for the URL on its first stdout line. */
async function startView(mnt: string): Promise<{ url: string; port: number; token: string; proc: ChildProcess }> {
  let out = '';
  let err = '';
  const proc = spawn(process.execPath, [CLI, 'view', mnt], { stdio: ['ignore', 'pipe', 'pipe'] });
  view = proc;
  proc.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  proc.stderr!.on('data', (b: Buffer) => (err += b.toString()));
  await waitFor(() => out.includes('\n') || proc.exitCode !== null, 'the URL from zonefuse view', 20_000);
  if (proc.exitCode !== null) throw new Error(`zonefuse view exited ${proc.exitCode}: ${err}`);
  const url = out.split('\n')[0]!;
  const m = /^http:\/\/127\.0\.0\.1:(\d+)\/([A-Za-z0-9_-]{20,})\/$/.exec(url);
  if (!m) throw new Error(`unexpected first line: ${JSON.stringify(url)}`);
  return { url, port: Number(m[1]), token: m[2]!, proc };
}

/** A raw HTTP request (so the Host header can be set), answered with status and body. */
function request(port: number, pathname: string, opts: { method?: string; host?: string; body?: string } = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1', port, path: pathname, method: opts.method ?? 'GET',
      headers: { Host: opts.host ?? `127.0.0.1:${port}`, ...(opts.body ? { 'Content-Type': 'application/json' } : {}) },
    }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

function zoneState(fx: Fixture, z: number): string {
  const zones = (JSON.parse(fs.readFileSync(path.join(fx.mnt, 'nvme0n1.zones', 'report.json'), 'utf8')) as { zones: { state: string }[] }).zones;
  return zones[z]!.state;
}

async function openBrowser(): Promise<Page> {
  expect(fs.existsSync(CHROMIUM), `${CHROMIUM} is missing: scripts/setup installs Debian's chromium`).toBe(true);
  browser = await chromium.launchPersistentContext(tmpDir('zonefuse-chromium-'), {
    executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, viewport: { width: 1000, height: 760 },
  });
  return browser.pages()[0] ?? browser.newPage();
}

/**
 * The state the page draws for each zone of a namespace, read off its canvas: the cell's top-left
 * pixel is the state's tint (above the write pointer) or its colour, as its legend says.
 */
async function drawnStates(page: Page, ns = 'nvme0n1'): Promise<string[]> {
  return page.evaluate((name) => {
    const section = document.querySelector(`section.ns[data-ns="${name}"]`) as HTMLElement;
    const canvas = section.querySelector('canvas.zones') as HTMLCanvasElement;
    const { cell, cols } = canvas.dataset;
    const colours = new Map<string, string>();
    for (const li of section.querySelectorAll<HTMLElement>('ul.legend li[data-state]')) {
      colours.set(li.dataset.color!, li.dataset.state!);
      colours.set(li.dataset.tint!, li.dataset.state!);
    }
    const ctx = canvas.getContext('2d')!;
    const out: string[] = [];
    for (let z = 0; z < Number(section.dataset.zoneCount); z++) {
      const x = (z % Number(cols)) * Number(cell);
      const y = Math.floor(z / Number(cols)) * Number(cell);
      const [r, g, b] = ctx.getImageData(x, y, 1, 1).data;
      const hex = '#' + [r, g, b].map((v) => v!.toString(16).padStart(2, '0')).join('');
      out.push(colours.get(hex) ?? `unknown ${hex}`);
    }
    return out;
  }, ns);
}

/** Wait until the page draws zone `z` as `state`; answers how long it took. */
async function untilDrawn(page: Page, z: number, state: string, what: string): Promise<number> {
  const t0 = Date.now();
  const end = t0 + 15_000;
  let last = '';
  while (Date.now() < end) {
    last = (await drawnStates(page))[z]!;
    if (last === state) return Date.now() - t0;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`${what}: zone ${z} still drawn ${last}, not ${state}`);
}

/** Centre of a zone's cell in page coordinates. */
async function cellCentre(page: Page, z: number): Promise<{ x: number; y: number }> {
  return page.evaluate((zone) => {
    const canvas = document.querySelector('section.ns canvas.zones') as HTMLCanvasElement;
    const r = canvas.getBoundingClientRect();
    const scale = r.width / canvas.width;
    const cell = Number(canvas.dataset.cell);
    const cols = Number(canvas.dataset.cols);
    return { x: r.left + ((zone % cols) + 0.5) * cell * scale, y: r.top + (Math.floor(zone / cols) + 0.5) * cell * scale };
  }, z);
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

describe('zonefuse view in a real browser', () => {
  it('refuses every request without the token, listens on 127.0.0.1 only, changes nothing without the token', async () => {
    const fx = await mounted(['--size', '16M', '--zone-size', '1M', '--conv-zones', '1', '--max-open', '3', '--max-active', '4']);
    const v = await startView(fx.mnt);
    const wrong = v.token.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A'));
    for (const p of ['/', '/favicon.ico', '/api/state', `/${wrong}/`, `/${wrong}/api/state`, `/${wrong}/api/events`, `/${v.token.slice(0, -1)}/api/state`]) {
      expect((await request(v.port, p)).status, p).toBe(403);
    }
    // The right token from a page that named this server otherwise (DNS rebinding): refused too.
    expect((await request(v.port, `/${v.token}/api/state`, { host: `attacker.example:${v.port}` })).status).toBe(403);
    const ok = await request(v.port, `/${v.token}/api/state`);
    expect(ok.status).toBe(200);
    expect((JSON.parse(ok.body) as { namespaces: { nrZones: number }[] }).namespaces[0]!.nrZones).toBe(16);

    const finish = JSON.stringify({ command: 'finish', zone: 3 });
    expect((await request(v.port, `/${wrong}/api/ns/nvme0n1/ctl`, { method: 'POST', body: finish })).status).toBe(403);
    expect((await request(v.port, '/api/ns/nvme0n1/ctl', { method: 'POST', body: finish })).status).toBe(403);
    expect(zoneState(fx, 3)).toBe('EMPTY');
    // With the token: only zone commands, only valid zones.
    expect((await request(v.port, `/${v.token}/api/ns/nvme0n1/ctl`, { method: 'POST', body: JSON.stringify({ command: 'offline', zone: 3 }) })).status).toBe(400);
    expect((await request(v.port, `/${v.token}/api/ns/nvme0n1/ctl`, { method: 'POST', body: JSON.stringify({ command: 'finish', zone: 16 }) })).status).toBe(400);
    expect(zoneState(fx, 3)).toBe('EMPTY');
    const done = await request(v.port, `/${v.token}/api/ns/nvme0n1/ctl`, { method: 'POST', body: finish });
    expect(done.status, done.body).toBe(200);
    expect(zoneState(fx, 3)).toBe('FULL');

    // Listening on the loopback address only: /proc/net/tcp lists 0100007F:PORT in LISTEN (0A).
    const hexPort = v.port.toString(16).toUpperCase().padStart(4, '0');
    const listening = [fs.readFileSync('/proc/net/tcp', 'utf8'), fs.existsSync('/proc/net/tcp6') ? fs.readFileSync('/proc/net/tcp6', 'utf8') : '']
      .join('\n').split('\n').map((l) => l.trim().split(/\s+/)).filter((f) => f[1]?.endsWith(`:${hexPort}`) && f[3] === '0A').map((f) => f[1]);
    expect(listening).toEqual([`0100007F:${hexPort}`]);

    // Clear refusals from the command itself.
    const busy = cli(['view', fx.mnt, '--port', String(v.port)]);
    expect([busy.status, busy.stderr]).toEqual([1, `zonefuse: port ${v.port} is in use on 127.0.0.1\n`]);
    const badPort = cli(['view', fx.mnt, '--port', '70000']);
    expect(badPort.status).toBe(1);
    expect(badPort.stderr).toContain('70000 is not a TCP port (0..65535)');
    const idle = path.join(fx.dir, 'idle');
    expect(cli(['create', idle, '--size', '8M', '--zone-size', '1M']).status).toBe(0);
    const notMounted = cli(['view', idle]);
    expect([notMounted.status, notMounted.stderr]).toEqual([1, `zonefuse: view follows a running device: ${idle} is not mounted (zonefuse mount it first)\n`]);

    // In the browser: the page with the wrong token is refused.
    const page = await openBrowser();
    const refused = await page.goto(`http://127.0.0.1:${v.port}/${wrong}/`);
    expect(refused?.status()).toBe(403);
  });

  it('draws every zone in its state and follows dd, resets, zone commands, errors and a power cycle', async () => {
    const fx = await mounted(['--size', '16M', '--zone-size', '1M', '--conv-zones', '1', '--max-open', '3', '--max-active', '4']);
    const v = await startView(fx.mnt);
    const page = await openBrowser();
    const errorsSeen: string[] = [];
    page.on('pageerror', (e) => errorsSeen.push(e.message));
    expect((await page.goto(v.url))?.status()).toBe(200);
    await page.waitForSelector('section.ns[data-ns="nvme0n1"][data-counts]', { timeout: 20_000 });

    // The zone count it shows is the device's.
    const info = fs.readFileSync(path.join(fx.mnt, 'nvme0n1.zones', 'info'), 'utf8');
    expect(await page.getAttribute('section.ns', 'data-zone-count')).toBe(/^nr_zones: (\d+)$/m.exec(info)![1]);
    expect(await drawnStates(page)).toEqual(['NOT_WP', ...Array(15).fill('EMPTY')]);
    expect(JSON.parse((await page.getAttribute('section.ns', 'data-counts'))!)).toEqual({ NOT_WP: 1, EMPTY: 15 });
    expect(await page.textContent('[data-gauge="open"]')).toContain('open zones: 0 of 3');

    // A dd into zone 5 and a reset, three times over: each change drawn within a second.
    const latencies: number[] = [];
    for (let round = 0; round < 3; round++) {
      const dd = sh(`dd if=/dev/zero of=${fx.ns()} bs=64k count=8 seek=$((5*16)) conv=notrunc status=none`);
      expect(dd.status, dd.stderr).toBe(0);
      latencies.push(await untilDrawn(page, 5, 'IMP_OPENED', `dd, round ${round}`));
      expect(cli(['zone', 'reset', fx.mnt, '5']).status).toBe(0);
      latencies.push(await untilDrawn(page, 5, 'EMPTY', `reset, round ${round}`));
    }
    console.log(`view: dd/reset drawn after ${latencies.join(', ')} ms (median ${median(latencies)} ms)`);
    expect(median(latencies)).toBeLessThan(1000);

    // Filled to the write pointer: half a zone written, the bottom of the cell solid, the top tinted.
    sh(`dd if=/dev/zero of=${fx.ns()} bs=64k count=8 seek=$((6*16)) conv=notrunc status=none`);
    await untilDrawn(page, 6, 'IMP_OPENED', 'half a zone');
    const halves = await page.evaluate(() => {
      const canvas = document.querySelector('section.ns canvas.zones') as HTMLCanvasElement;
      const cell = Number(canvas.dataset.cell);
      const gap = Number(canvas.dataset.gap);
      const x = (6 % Number(canvas.dataset.cols)) * cell;
      const y = Math.floor(6 / Number(canvas.dataset.cols)) * cell;
      const px = (yy: number): string => '#' + [...canvas.getContext('2d')!.getImageData(x + 1, yy, 1, 1).data.slice(0, 3)].map((v) => v.toString(16).padStart(2, '0')).join('');
      const li = document.querySelector('ul.legend li[data-state="IMP_OPENED"]') as HTMLElement;
      return { top: px(y + 1), bottom: px(y + cell - gap - 2), color: li.dataset.color, tint: li.dataset.tint };
    });
    expect(halves.top).toBe(halves.tint);
    expect(halves.bottom).toBe(halves.color);
    await page.waitForFunction(() => document.querySelector('[data-gauge="open"]')!.textContent!.includes('open zones: 1 of 3'), null, { timeout: 15_000 });

    // The descriptor under the pointer.
    const c6 = await cellCentre(page, 6);
    await page.mouse.move(c6.x, c6.y);
    await page.waitForSelector('#descriptor[data-zone="6"][data-state="IMP_OPENED"]:not([hidden])', { timeout: 15_000 });
    // The page may have drawn the zone after dd's first write and before its last: the descriptor
    // follows (a frame for a zone under the pointer fetches it again), so wait for the final one.
    await page.waitForFunction(() => /write pointerLBA 1664 \(/.test(document.querySelector('#descriptor')!.textContent ?? ''), null, { timeout: 15_000 });
    const text = await page.textContent('#descriptor');
    expect(text).toContain('nvme0n1 · zone 6');
    expect(text).toMatch(/write pointerLBA 1664 \(\+128, 50%\)/);
    expect(text).toContain('capacity256 LBAs (1 MiB)');

    // A zone command from the page: asks first; declined changes nothing, accepted finishes the zone.
    const c7 = await cellCentre(page, 7);
    await page.mouse.click(c7.x, c7.y);
    await page.waitForSelector('#descriptor[data-zone="7"] button[data-command="finish"]', { timeout: 15_000 });
    page.once('dialog', (d) => void d.dismiss());
    await page.click('#descriptor button[data-command="finish"]');
    await new Promise((r) => setTimeout(r, 300));
    expect(zoneState(fx, 7)).toBe('EMPTY');
    page.once('dialog', (d) => {
      expect(d.message()).toBe('finish zone 7 of nvme0n1?');
      void d.accept();
    });
    await page.click('#descriptor button[data-command="finish"]');
    await untilDrawn(page, 7, 'FULL', 'finish from the page');
    expect(zoneState(fx, 7)).toBe('FULL');
    await page.keyboard.press('Escape');

    // A refused write shows up among the errors.
    const bad = sh(`dd if=/dev/zero of=${fx.ns()} bs=4k count=1 seek=$((9*256+1)) conv=notrunc oflag=direct status=none`);
    expect(bad.status).not.toBe(0);
    await page.waitForFunction(() => /Zone Invalid Write/.test(document.querySelector('section.ns ol.errors')!.textContent!), null, { timeout: 15_000 });
    // Device events are shown when the mount has them.
    const hasEvents = fs.existsSync(path.join(fx.mnt, 'nvme0n1.zones', 'events'));
    expect(await page.isVisible('section.ns ol.events')).toBe(hasEvents);

    // A power cycle: the page follows the new generation; the device comes back with zone 6 closed.
    const before = await page.getAttribute('section.ns', 'data-generation');
    expect(cli(['power-cycle', fx.mnt]).status).toBe(0);
    await page.waitForFunction((g) => document.querySelector('section.ns')!.getAttribute('data-generation') !== g, before, { timeout: 15_000 });
    await untilDrawn(page, 6, zoneState(fx, 6), 'after the power cycle');
    expect(await drawnStates(page)).toEqual(JSON.parse(fs.readFileSync(path.join(fx.mnt, 'nvme0n1.zones', 'report.json'), 'utf8')).zones.map((z: { state: string }) => z.state));

    // Namespaces created and detached at run time come and go.
    expect(cli(['create', fx.mnt, '--ns', 'nvme0n2', '--size', '8M', '--zone-size', '1M']).status).toBe(0);
    await page.waitForSelector('section.ns[data-ns="nvme0n2"][data-zone-count="8"][data-counts]', { timeout: 15_000 });
    expect(cli(['ns', 'detach', fx.mnt, 'nvme0n2']).status).toBe(0);
    await page.waitForSelector('section.ns[data-ns="nvme0n2"]', { state: 'detached', timeout: 15_000 });
    expect(await page.getAttribute('section.ns[data-ns="nvme0n1"]', 'data-zone-count')).toBe('16');

    // The daemon dies: the page says so (the mount is gone, or answers ENOTCONN without
    // auto-unmount); a new mount of the store, and it follows again.
    await fx.daemon.kill9();
    await page.waitForFunction(() => document.getElementById('status')!.dataset.status === 'gone' || document.getElementById('no-namespaces') !== null, null, { timeout: 15_000 });
    await fx.daemon.start();
    await page.waitForSelector('#status[data-status="live"]', { timeout: 20_000 });
    await page.waitForSelector('section.ns[data-ns="nvme0n1"][data-counts]', { timeout: 20_000 });
    await untilDrawn(page, 7, 'FULL', 'after the remount');
    expect(errorsSeen).toEqual([]);
  });
});
