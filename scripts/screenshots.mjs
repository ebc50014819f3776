#!/usr/bin/env node
// The README's pictures, made from a real session (run after `npm run build`):
//   docs/img/view.png  `zonefuse view` of a busy device: the kv-store example (examples/kv-store)
//                      writing and garbage-collecting nvme0n1, and a second namespace with zones
//                      put into every state by hand (and one refused write), in headless chromium;
//   docs/img/map.png   `zonefuse map --watch` of the same device in a tmux pane, captured with
//                      its colours and drawn as HTML in chromium.
// Everything runs under a fresh temporary directory and a private tmux socket.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CLI = path.join(ROOT, 'bin', 'zonefuse.js');
const OUT = path.join(ROOT, 'docs', 'img');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zonefuse-shots-'));
const store = path.join(dir, 'store');
const mnt = path.join(dir, 'mnt');
const tmuxSocket = `zonefuse-shots-${process.pid}`;
const children = [];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function zonefuse(...args) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`zonefuse ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

async function until(cond, what, ms = 60_000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return;
    await sleep(20);
  }
  throw new Error(`timed out: ${what}`);
}

/** The kv-store example under load: 3000 keys overwritten at random, so GC resets zones. */
const KV_LOAD = `
import { openDevice } from ${JSON.stringify(pathToFileURL(path.join(ROOT, 'dist', 'index.js')).href)};
import { ZonedKV } from ${JSON.stringify(pathToFileURL(path.join(ROOT, 'examples', 'kv-store', 'kv.mjs')).href)};
const kv = ZonedKV.open(openDevice(process.argv[1]));
let i = 0;
for (;;) {
  kv.put('key:' + Math.floor(Math.random() * 3000), Buffer.alloc(1024 + Math.floor(Math.random() * 6144), i++ & 255));
  if (i % 500 === 0) { kv.flush(); await new Promise((r) => setTimeout(r, 1)); }
}
`;

// xterm's 256 colours, for the tmux capture.
function xterm(n) {
  const base = ['000000', 'cd0000', '00cd00', 'cdcd00', '0000ee', 'cd00cd', '00cdcd', 'e5e5e5', '7f7f7f', 'ff0000', '00ff00', 'ffff00', '5c5cff', 'ff00ff', '00ffff', 'ffffff'];
  if (n < 16) return '#' + base[n];
  if (n < 232) {
    const v = [0, 95, 135, 175, 215, 255];
    const i = n - 16;
    return '#' + [v[Math.floor(i / 36)], v[Math.floor(i / 6) % 6], v[i % 6]].map((c) => c.toString(16).padStart(2, '0')).join('');
  }
  const g = (8 + 10 * (n - 232)).toString(16).padStart(2, '0');
  return `#${g}${g}${g}`;
}

/** A `tmux capture-pane -e` text as HTML spans (the SGR codes map uses). */
function ansiToHtml(text) {
  let fg = null;
  let bg = null;
  let dim = false;
  let html = '';
  const esc = (s) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  for (const part of text.split(/(\x1b\[[0-9;]*m)/)) {
    const m = /^\x1b\[([0-9;]*)m$/.exec(part);
    if (!m) {
      if (part) html += `<span style="${fg ? `color:${fg};` : ''}${bg ? `background:${bg};` : ''}${dim ? 'opacity:.6;' : ''}">${esc(part)}</span>`;
      continue;
    }
    const codes = m[1] === '' ? [0] : m[1].split(';').map(Number);
    for (let i = 0; i < codes.length; i++) {
      const c = codes[i];
      if (c === 0) [fg, bg, dim] = [null, null, false];
      else if (c === 2) dim = true;
      else if (c === 22) dim = false;
      else if (c === 39) fg = null;
      else if (c === 49) bg = null;
      else if (c === 38 && codes[i + 1] === 5) (fg = xterm(codes[i + 2])), (i += 2);
      else if (c === 48 && codes[i + 1] === 5) (bg = xterm(codes[i + 2])), (i += 2);
      else if (c >= 30 && c <= 37) fg = xterm(c - 30);
      else if (c >= 90 && c <= 97) fg = xterm(c - 90 + 8);
    }
  }
  return html;
}

let context;
try {
  fs.mkdirSync(OUT, { recursive: true });
  zonefuse('create', store, '--ns', 'nvme0n1', '--size', '48M', '--zone-size', '256K', '--conv-zones', '0', '--max-open', '8', '--max-active', '12');
  zonefuse('create', store, '--ns', 'nvme0n2', '--size', '64M', '--zone-size', '1M', '--conv-zones', '4', '--max-open', '6', '--max-active', '8');
  const daemon = spawn(process.execPath, [CLI, 'mount', store, mnt, '--log-level', 'warn'], { stdio: 'ignore' });
  children.push(daemon);
  await until(() => fs.existsSync(path.join(mnt, 'nvme0n2.zones', 'zones.bin')), 'the mount');

  // nvme0n2: every state, by hand.
  const ns2 = path.join(mnt, 'nvme0n2');
  const ctl2 = (line) => fs.writeFileSync(path.join(mnt, 'nvme0n2.zones', 'ctl'), line + '\n');
  const write2 = (zone, kib) => spawnSync('dd', ['if=/dev/urandom', `of=${ns2}`, 'bs=64k', `count=${kib / 64}`, `seek=${zone * 16}`, 'conv=notrunc', 'status=none']);
  for (const [z, kib] of [[4, 1024], [5, 1024], [6, 1024], [7, 512], [9, 768], [10, 128], [16, 320], [17, 960], [21, 1024], [33, 448]]) write2(z, kib);
  ctl2('close 7'); ctl2('close 16'); ctl2('open 12'); ctl2('finish 30'); ctl2('readonly 40'); ctl2('offline 41'); ctl2('recommend reset 5');
  spawnSync('dd', ['if=/dev/zero', `of=${ns2}`, 'bs=4k', 'count=1', `seek=${20 * 256 + 3}`, 'conv=notrunc', 'oflag=direct', 'status=none']); // refused: not at the write pointer

  const kv = spawn(process.execPath, ['--input-type=module', '-e', KV_LOAD, path.join(mnt, 'nvme0n1')], { stdio: 'ignore' });
  children.push(kv);
  let url = '';
  const view = spawn(process.execPath, [CLI, 'view', mnt], { stdio: ['ignore', 'pipe', 'ignore'] });
  children.push(view);
  view.stdout.on('data', (b) => (url += b.toString()));
  await until(() => url.includes('\n'), 'the view URL');
  url = url.split('\n')[0];
  // Long enough for the store to fill the device and its garbage collector to reset zones.
  await sleep(25_000);

  context = await chromium.launchPersistentContext(path.join(dir, 'chromium'), {
    executablePath: '/usr/bin/chromium', headless: true, viewport: { width: 1180, height: 760 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const page = context.pages()[0] ?? (await context.newPage());
  await page.goto(url);
  await page.waitForSelector('section.ns[data-ns="nvme0n2"][data-counts]');
  await sleep(800);
  // Hover an implicitly open zone of the kv store (its head), as a user looking at it would.
  const at = await page.evaluate(() => {
    const canvas = document.querySelector('section.ns[data-ns="nvme0n1"] canvas.zones');
    const tint = document.querySelector('section.ns[data-ns="nvme0n1"] li[data-state="IMP_OPENED"]').dataset.tint;
    const cell = Number(canvas.dataset.cell);
    const cols = Number(canvas.dataset.cols);
    const ctx = canvas.getContext('2d');
    const r = canvas.getBoundingClientRect();
    for (let z = 0; z < 192; z++) {
      const [red, g, b] = ctx.getImageData((z % cols) * cell, Math.floor(z / cols) * cell, 1, 1).data;
      if ('#' + [red, g, b].map((v) => v.toString(16).padStart(2, '0')).join('') === tint) {
        return { x: r.left + ((z % cols) + 0.5) * cell * (r.width / canvas.width), y: r.top + (Math.floor(z / cols) + 0.5) * cell * (r.height / canvas.height) };
      }
    }
    return { x: r.left + 10, y: r.top + 10 };
  });
  await page.mouse.move(at.x, at.y);
  await page.waitForSelector('#descriptor:not([hidden]) dl');
  await sleep(300);
  const height = await page.evaluate(() => document.querySelector('main').getBoundingClientRect().bottom);
  await page.screenshot({ path: path.join(OUT, 'view.png'), clip: { x: 0, y: 0, width: 1180, height: Math.ceil(height) } });

  // The terminal map, from a real tmux pane.
  const tmux = (...args) => spawnSync('tmux', ['-L', tmuxSocket, ...args], { encoding: 'utf8' });
  tmux('new-session', '-d', '-s', 'map', '-x', '96', '-y', '18',
    `env TERM=xterm-256color LANG=C.UTF-8 ${process.execPath} ${CLI} map ${mnt} --ns nvme0n2 --watch`);
  let pane = '';
  await until(() => (pane = tmux('capture-pane', '-p', '-e', '-t', 'map').stdout).includes('watching'), 'the map in tmux', 30_000);
  await sleep(300);
  pane = tmux('capture-pane', '-p', '-e', '-t', 'map').stdout;
  tmux('kill-server');
  const html = `<!doctype html><meta charset="utf-8"><style>
    body { margin: 0; background: #1c1e22; }
    pre { margin: 0; padding: 14px 18px; color: #d5d8dc; font: 15px/1.25 "DejaVu Sans Mono", monospace; }
  </style><pre>${ansiToHtml(pane.replace(/\n+$/, ''))}</pre>`;
  const term = await context.newPage();
  await term.setViewportSize({ width: 96 * 9 + 36, height: 400 });
  await term.setContent(html);
  const box = await term.locator('pre').boundingBox();
  await term.screenshot({ path: path.join(OUT, 'map.png'), clip: { x: 0, y: 0, width: box.width, height: box.height } });
  for (const f of ['view.png', 'map.png']) console.log(`${path.join(OUT, f)}: ${fs.statSync(path.join(OUT, f)).size} bytes`);
} finally {
  await context?.close().catch(() => undefined);
  spawnSync('tmux', ['-L', tmuxSocket, 'kill-server']);
  for (const c of children.reverse()) {
    c.kill('SIGTERM');
    await until(() => c.exitCode !== null || c.signalCode !== null, 'exit', 20_000).catch(() => c.kill('SIGKILL'));
  }
  spawnSync('fusermount', ['-u', '-z', mnt]);
  fs.rmSync(dir, { recursive: true, force: true });
}
