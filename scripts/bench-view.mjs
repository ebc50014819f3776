#!/usr/bin/env node
// The web view at scale: a namespace of ZONES zones (default 102,400) mounted, `zonefuse view`
// on it, Debian's chromium on the page. Measures the time to the first complete picture, then
// ROUNDS times: a dd into a random zone (and a reset of it) until the page draws the new state,
// with the page's long tasks (> 50 ms on the main thread) while it follows. Medians on stdout.
//
//   node scripts/bench-view.mjs [ZONES] [ROUNDS]
//
// The numbers are noisy on a shared machine: read them as an order of magnitude.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
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
  const view = spawn(process.execPath, [CLI, 'view', mnt], { stdio: ['ignore', 'pipe', 'ignore'] });
  children.push(view);
  view.stdout.on('data', (b) => (url += b.toString()));
  await until(() => url.includes('\n'), 'the view URL');
  url = url.split('\n')[0];

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
  for (let i = 0; i < rounds; i++) {
    const z = Math.floor(Math.random() * zones);
    const t = Date.now();
    // The write itself from this process (a dd would add a process start-up to the figure).
    const fd = fs.openSync(path.join(mnt, 'nvme0n1'), 'r+');
    fs.writeSync(fd, Buffer.alloc(16384), 0, 16384, z * zoneKiB * 1024);
    fs.closeSync(fd);
    await drawn(z, 'IMP_OPENED');
    lat.push(Date.now() - t);
    const t2 = Date.now();
    fs.writeFileSync(path.join(mnt, 'nvme0n1.zones', 'ctl'), `reset ${z}\n`);
    await drawn(z, 'EMPTY');
    lat.push(Date.now() - t2);
  }
  const long = await page.evaluate(() => window.__long);
  console.log(`zones: ${zones}`);
  console.log(`first complete picture: ${firstPicture} ms`);
  console.log(`change drawn after (dd or reset, ${lat.length} changes): median ${median(lat)} ms, max ${Math.max(...lat)} ms`);
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
