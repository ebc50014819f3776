#!/usr/bin/env node
// The web view at scale: a namespace of ZONES zones (default 102,400) mounted, `zonefuse view`
// on it, Debian's chromium on the page. Measures the view's start-up (spawn to URL: it reads
// every zone once) and the time to the first complete picture, then ROUNDS times: a write into
// a random zone (and a reset of it) until the page draws the new state. Each change is also
// timed to its frame on the server's event stream (a second, plain HTTP subscriber), which
// splits the latency into the server's part (poll, zones.bin/changes.bin reads, diff) and the
// page's (event parsing, drawing). Also the page's long tasks (> 50 ms on the main thread)
// while it follows. Medians on stdout.
//
//   node scripts/bench-view.mjs [ZONES] [ROUNDS]
//
// The numbers are noisy on a shared machine: read them as an order of magnitude.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CLI = path.join(ROOT, 'bin', 'zonefuse.js');
const zones = Number(process.argv[2] ?? 102400);
const rounds = Number(process.argv[3] ?? 10);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zonefuse-bench-view-'));
const store = path.join(dir, 'store');
const mnt = path.join(dir, 'mnt');
const children = [];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function until(cond, what, ms = 60_000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await cond()) return;
    await sleep(10);
  }
  throw new Error(`timed out: ${what}`);
}

let context;
try {
  const zoneKiB = 64;
  const r = spawnSync(process.execPath, [CLI, 'create', store, '--size', `${zones * zoneKiB}K`, '--zone-size', `${zoneKiB}K`, '--conv-zones', '0', '--max-open', '64', '--max-active', '128'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  const daemon = spawn(process.execPath, [CLI, 'mount', store, mnt, '--log-level', 'warn'], { stdio: 'ignore' });
  children.push(daemon);
  await until(() => fs.existsSync(path.join(mnt, 'nvme0n1.zones', 'zones.bin')), 'the mount');
  let url = '';
  const tView = Date.now();
  const view = spawn(process.execPath, [CLI, 'view', mnt], { stdio: ['ignore', 'pipe', 'ignore'] });
  children.push(view);
  view.stdout.on('data', (b) => (url += b.toString()));
  await until(() => url.includes('\n'), 'the view URL');
  const viewStart = Date.now() - tView;
  url = url.split('\n')[0];

  // The event stream as the page gets it: when did a frame naming zone z (or a whole picture) arrive?
  const frames = [];
  const stream = http.get(url + 'api/events', (res) => {
    let acc = '';
    res.setEncoding('utf8');
    res.on('data', (chunk) => {
      acc += chunk;
      for (let i; (i = acc.indexOf('\n\n')) >= 0; acc = acc.slice(i + 2)) {
        const ev = acc.slice(0, i);
        if (!ev.startsWith('event: zones')) continue;
        const f = JSON.parse(ev.slice(ev.indexOf('data: ') + 6));
        const idx = f.full ? null : new Uint32Array(new Uint8Array(Buffer.from(f.zones, 'base64')).buffer);
        frames.push({ at: Date.now(), has: (z) => idx === null || idx.includes(z) });
      }
    });
  });
  const framed = (z, since) => frames.find((f) => f.at >= since && f.has(z))?.at - since;

  context = await chromium.launchPersistentContext(path.join(dir, 'chromium'), {
    executablePath: '/usr/bin/chromium', headless: true, viewport: { width: 1280, height: 900 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const t0 = Date.now();
  await page.goto(url);
  await page.waitForSelector('section.ns[data-counts]', { timeout: 60_000 });
  const firstPicture = Date.now() - t0;
  await page.evaluate(() => {
    window.__long = [];
    new PerformanceObserver((l) => window.__long.push(...l.getEntries().map((e) => e.duration))).observe({ entryTypes: ['longtask'] });
  });
  // Polled inside the page (no round trip per look): the state drawn at the zone's cell.
  const drawn = (z, state) => page.waitForFunction(({ zone, want }) => {
    const section = document.querySelector('section.ns');
    const canvas = section.querySelector('canvas.zones');
    const cell = Number(canvas.dataset.cell);
    const cols = Number(canvas.dataset.cols);
    const [r, g, b] = canvas.getContext('2d').getImageData((zone % cols) * cell, Math.floor(zone / cols) * cell, 1, 1).data;
    const hex = '#' + [r, g, b].map((v) => v.toString(16).padStart(2, '0')).join('');
    const li = [...section.querySelectorAll('ul.legend li')].find((l) => l.dataset.color === hex || l.dataset.tint === hex);
    return li?.dataset.state === want;
  }, { zone: z, want: state }, { polling: 10, timeout: 60_000 });
  const lat = [];
  const server = [];
  for (let i = 0; i < rounds; i++) {
    const z = Math.floor(Math.random() * zones);
    const t = Date.now();
    // The write itself from this process (a dd would add a process start-up to the figure).
    const fd = fs.openSync(path.join(mnt, 'nvme0n1'), 'r+');
    fs.writeSync(fd, Buffer.alloc(16384), 0, 16384, z * zoneKiB * 1024);
    fs.closeSync(fd);
    await drawn(z, 'IMP_OPENED');
    lat.push(Date.now() - t);
    server.push(framed(z, t));
    const t2 = Date.now();
    fs.writeFileSync(path.join(mnt, 'nvme0n1.zones', 'ctl'), `reset ${z}\n`);
    await drawn(z, 'EMPTY');
    lat.push(Date.now() - t2);
    server.push(framed(z, t2));
  }
  stream.destroy();
  const long = await page.evaluate(() => window.__long);
  console.log(`zones: ${zones}`);
  console.log(`view start-up (spawn to URL, one read of every zone): ${viewStart} ms`);
  console.log(`first complete picture: ${firstPicture} ms`);
  console.log(`change drawn after (write or reset, ${lat.length} changes): median ${median(lat)} ms, max ${Math.max(...lat)} ms`);
  console.log(`  of which on the event stream after: median ${median(server)} ms, max ${Math.max(...server)} ms`);
  console.log(`  all (ms): drawn ${lat.join(' ')}; on the stream ${server.join(' ')}`);
  console.log(`page long tasks while following: ${long.length}${long.length ? `, longest ${Math.round(Math.max(...long))} ms` : ''}`);
} finally {
  await context?.close().catch(() => undefined);
  for (const c of children.reverse()) {
    c.kill('SIGTERM');
    await until(() => c.exitCode !== null || c.signalCode !== null, 'exit', 20_000).catch(() => c.kill('SIGKILL'));
  }
  spawnSync('fusermount', ['-u', '-z', mnt]);
  fs.rmSync(dir, { recursive: true, force: true });
}
