// zonefuse view: the page. Plain JavaScript, no build step, nothing fetched from elsewhere.
// Every URL is relative: the page lives under the server's secret token path.
//
// What it draws is readable from the DOM, for people and for tests alike:
//   section.ns[data-ns]          data-zone-count, data-generation, data-open, data-active,
//                                data-counts (JSON: zones drawn per state name)
//   canvas.zones                 data-cell (cell size, device pixels), data-cols, data-gap
//   ul.legend li[data-state]     data-color (written part), data-tint (above the write pointer)
//   #descriptor                  data-ns, data-zone, data-state of the zone under the pointer
'use strict';

const STATUS = document.getElementById('status');
const MAIN = document.getElementById('namespaces');
const PANEL = document.getElementById('descriptor');

let legend = [];
let legendByState = new Map();
let background = [255, 255, 255];
let commands = [];
const views = new Map();

function setStatus(kind, text) {
  STATUS.dataset.status = kind;
  STATUS.textContent = text;
}

function rgb(hex) {
  const n = parseInt(hex.slice(1), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

/** A colour as one ImageData pixel (RGBA bytes, read as a little-endian u32). */
function pixel([r, g, b]) {
  return ((255 << 24) | (b << 16) | (g << 8) | r) >>> 0;
}

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v;
    else if (k.startsWith('data-')) e.setAttribute(k, v);
    else e[k] = v;
  }
  for (const c of children) e.append(c);
  return e;
}

function bytes(b64) {
  const s = atob(b64);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

function size(n) {
  for (const [unit, f] of [['GiB', 2 ** 30], ['MiB', 2 ** 20], ['KiB', 1024]]) if (n >= f) return `${+(n / f).toFixed(2)} ${unit}`;
  return `${n} B`;
}

const SOLID = new Set([0x0 /* conventional */, 0xe /* full */, 0xf /* offline */]);

class NamespaceView {
  constructor(layout) {
    this.layout = layout;
    this.n = layout.nrZones;
    this.states = new Uint8Array(this.n);
    this.fills = new Uint8Array(this.n);
    this.dirty = new Set();
    this.allDirty = true;
    this.generation = '';
    this.pending = false;
    this.build();
  }

  build() {
    const l = this.layout;
    const zoneBytes = l.zoneLbas * l.lbaSize;
    this.canvas = el('canvas', { class: 'zones' });
    this.openGauge = this.gauge('open', l.maxOpen);
    this.activeGauge = this.gauge('active', l.maxActive);
    this.legend = el('ul', { class: 'legend' });
    this.counts = new Map();
    for (const s of legend) {
      const count = el('b', {}, '0');
      this.counts.set(s.state, count);
      this.legend.append(el('li', { 'data-state': s.key, 'data-color': s.color, 'data-tint': s.tint },
        el('i', { style: `background: linear-gradient(to top, ${s.color} 55%, ${s.tint} 55%)` }), `${s.label} `, count));
    }
    this.errors = el('ol', { class: 'errors' });
    this.events = el('ol', { class: 'events' });
    this.eventsBox = el('div', { hidden: true }, el('h3', {}, 'device events (newest first)'), this.events);
    this.updated = el('span', { class: 'note' });
    this.section = el('section', { class: 'ns', 'data-ns': l.name, 'data-zone-count': String(this.n) },
      el('h2', {}, l.name, el('small', {}, `${this.n} zones of ${size(zoneBytes)}` +
        `${l.conventionalZones ? `, ${l.conventionalZones} conventional` : ''}, ${l.lbaSize}-byte LBAs`)),
      el('div', { class: 'gauges' }, this.openGauge.box, this.activeGauge.box, this.updated),
      el('div', { class: 'grid' }, this.canvas),
      this.legend,
      el('div', { class: 'note' }, 'Each cell is a zone, filled from the bottom up to its write pointer. Hover for its descriptor, click for zone commands.'),
      el('div', { class: 'logs' }, el('div', {}, el('h3', {}, 'errors (newest first)'), this.errors), this.eventsBox));
    this.canvas.addEventListener('mousemove', (e) => hover(this, e));
    this.canvas.addEventListener('mouseleave', () => unhover(this));
    this.canvas.addEventListener('click', (e) => pin(this, e));
  }

  gauge(what, max) {
    const text = el('span');
    const fill = el('div');
    const bar = el('div', { class: 'bar', hidden: max === 0 }, fill);
    const box = el('div', { class: 'gauge', 'data-gauge': what }, text, bar);
    return {
      box,
      set: (now) => {
        text.textContent = max === 0 ? `${what} zones: ${now} (no limit)` : `${what} zones: ${now} of ${max}`;
        fill.style.width = max === 0 ? '0' : `${Math.min(100, (100 * now) / max)}%`;
        box.dataset.now = String(now);
        box.dataset.max = String(max);
        box.dataset.full = String(max > 0 && now >= max);
      },
    };
  }

  /** Cell size from the space available: 100,000 zones still fit on a screen, at 2-3 pixels a cell. */
  arrange() {
    const dpr = window.devicePixelRatio || 1;
    const width = Math.max(200, this.section.clientWidth || MAIN.clientWidth || 800);
    const height = Math.max(160, window.innerHeight * 0.62);
    const css = Math.max(2, Math.min(28, Math.floor(Math.sqrt((width * height) / this.n))));
    this.cell = Math.max(2, Math.round(css * dpr));
    this.cols = Math.max(1, Math.floor((width * dpr) / this.cell));
    this.rows = Math.ceil(this.n / this.cols);
    this.gap = this.cell >= 6 ? Math.max(1, Math.round(dpr)) : 0;
    this.canvas.width = this.cols * this.cell;
    this.canvas.height = this.rows * this.cell;
    this.canvas.style.width = `${this.canvas.width / dpr}px`;
    this.canvas.style.height = `${this.canvas.height / dpr}px`;
    Object.assign(this.canvas.dataset, { cell: String(this.cell), cols: String(this.cols), gap: String(this.gap) });
    this.ctx = this.canvas.getContext('2d');
    this.image = this.ctx.createImageData(this.canvas.width, this.canvas.height);
    this.pixels = new Uint32Array(this.image.data.buffer);
    this.pixels.fill(pixel(background));
    this.allDirty = true;
    this.schedule();
  }

  apply(f) {
    const states = bytes(f.states);
    const fills = bytes(f.fills);
    if (f.full) {
      this.states.set(states.subarray(0, this.n));
      this.fills.set(fills.subarray(0, this.n));
      this.allDirty = true;
    } else {
      const idx = new DataView(bytes(f.zones).buffer);
      for (let i = 0; i < states.length; i++) {
        const z = idx.getUint32(4 * i, true);
        if (z >= this.n) continue;
        this.states[z] = states[i];
        this.fills[z] = fills[i];
        this.dirty.add(z);
      }
    }
    this.generation = f.generation;
    this.openGauge.set(f.openZones);
    this.activeGauge.set(f.activeZones);
    this.schedule();
    if (!PANEL.hidden && PANEL.dataset.ns === this.layout.name && (f.full || this.dirty.has(Number(PANEL.dataset.zone)))) refreshDescriptor();
  }

  schedule() {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => {
      this.pending = false;
      this.draw();
    });
  }

  paint(z) {
    const style = legendByState.get(this.states[z]) || legendByState.get(0xf);
    const { cell, gap, cols, pixels } = this;
    const stride = this.canvas.width;
    const x0 = (z % cols) * cell;
    const y0 = Math.floor(z / cols) * cell;
    const inner = cell - gap;
    const f = this.fills[z];
    let solid = SOLID.has(this.states[z]) ? inner : Math.round((inner * f) / 255);
    if (f > 0 && solid === 0 && inner >= 3) solid = 1;
    for (let y = 0; y < inner; y++) {
      const c = y >= inner - solid ? style.pixel : style.tintPixel;
      const row = (y0 + y) * stride + x0;
      pixels.fill(c, row, row + inner);
    }
  }

  draw() {
    if (!this.pixels) return;
    if (this.allDirty) {
      for (let z = 0; z < this.n; z++) this.paint(z);
    } else {
      for (const z of this.dirty) this.paint(z);
    }
    this.allDirty = false;
    this.dirty.clear();
    this.ctx.putImageData(this.image, 0, 0);
    const counts = {};
    for (let z = 0; z < this.n; z++) counts[this.states[z]] = (counts[this.states[z]] || 0) + 1;
    const named = {};
    for (const s of legend) {
      this.counts.get(s.state).textContent = String(counts[s.state] || 0);
      if (counts[s.state]) named[s.key] = counts[s.state];
    }
    Object.assign(this.section.dataset, {
      generation: this.generation, counts: JSON.stringify(named),
      open: this.openGauge.box.dataset.now, active: this.activeGauge.box.dataset.now,
    });
    this.updated.textContent = `updated ${new Date().toLocaleTimeString()} · generation ${this.generation}`;
  }

  zoneAt(e) {
    const r = this.canvas.getBoundingClientRect();
    const scale = this.canvas.width / r.width;
    const col = Math.floor(((e.clientX - r.left) * scale) / this.cell);
    const row = Math.floor(((e.clientY - r.top) * scale) / this.cell);
    if (col < 0 || col >= this.cols || row < 0) return -1;
    const z = row * this.cols + col;
    return z < this.n ? z : -1;
  }

  log(f) {
    const fill = (list, lines) => list.replaceChildren(...lines.slice().reverse().map((t) => el('li', {}, t)));
    fill(this.errors, f.errors);
    this.eventsBox.hidden = f.events === null;
    if (f.events) fill(this.events, f.events);
  }
}

// ---------------------------------------------------------------------------------------------
// The zone descriptor: follows the pointer, or stays put (with zone commands) after a click.

let pinned = false;
let asked = '';

function placePanel(e) {
  const pad = 14;
  const w = PANEL.offsetWidth || 280;
  const h = PANEL.offsetHeight || 200;
  PANEL.style.left = `${Math.min(e.clientX + pad, window.innerWidth - w - 4)}px`;
  PANEL.style.top = `${e.clientY + pad + h > window.innerHeight ? Math.max(4, e.clientY - h - pad) : e.clientY + pad}px`;
}

function hover(view, e) {
  if (pinned) return;
  const z = view.zoneAt(e);
  if (z < 0) return unhover(view);
  placePanel(e);
  if (PANEL.dataset.ns === view.layout.name && PANEL.dataset.zone === String(z) && !PANEL.hidden) return;
  showDescriptor(view.layout.name, z);
}

function unhover() {
  if (pinned) return;
  PANEL.hidden = true;
  delete PANEL.dataset.zone;
}

function pin(view, e) {
  const z = view.zoneAt(e);
  if (z < 0) return;
  pinned = true;
  placePanel(e);
  showDescriptor(view.layout.name, z);
}

document.addEventListener('keydown', (e) => {
  if (e.key === 'Escape') {
    pinned = false;
    PANEL.hidden = true;
  }
});
document.addEventListener('click', (e) => {
  if (pinned && !PANEL.contains(e.target) && !e.target.matches('canvas.zones')) {
    pinned = false;
    PANEL.hidden = true;
  }
});

function showDescriptor(ns, z) {
  PANEL.dataset.ns = ns;
  PANEL.dataset.zone = String(z);
  PANEL.hidden = false;
  refreshDescriptor();
}

const ATTRS = [[0x01, 'ZFC finished by controller'], [0x02, 'FZR finish recommended'], [0x04, 'RZR reset recommended'], [0x08, 'ZRWA'], [0x80, 'ZDEV extension valid']];
const TYPES = { 1: 'conventional', 2: 'sequential write required', 3: 'sequential write preferred' };

async function refreshDescriptor() {
  const ns = PANEL.dataset.ns;
  const z = PANEL.dataset.zone;
  const key = `${ns}/${z}`;
  asked = key;
  let d;
  try {
    const r = await fetch(`api/ns/${encodeURIComponent(ns)}/zone/${z}`, { cache: 'no-store' });
    d = await r.json();
    if (!r.ok) throw new Error(d.error);
  } catch (err) {
    if (asked === key) PANEL.replaceChildren(el('div', {}, `zone ${z}: ${err.message}`));
    return;
  }
  if (asked !== key || PANEL.dataset.zone !== String(z)) return;
  const conv = d.type === 1;
  const attrs = ATTRS.filter(([bit]) => d.attrs & bit).map(([, name]) => name);
  const style = legend.find((s) => s.key === d.state);
  const rows = [
    ['state', `${style ? style.label : d.state} (${d.state})`],
    ['type', TYPES[d.type] || String(d.type)],
    ['start', `LBA ${d.start}`],
    ...(conv ? [] : [
      ['write pointer', `LBA ${d.wp} (+${d.written}, ${d.capacity ? Math.round((100 * d.written) / d.capacity) : 0}%)`],
      ['capacity', `${d.capacity} LBAs (${size(d.capacity * d.lbaSize)})`],
    ]),
    ['size', `${d.zoneLbas} LBAs (${size(d.zoneLbas * d.lbaSize)})`],
    ['attributes', `0x${d.attrs.toString(16).padStart(2, '0')}${attrs.length ? ` ${attrs.join(', ')}` : ''}`],
    ['resets', String(d.resets)],
    ['finishes', String(d.finishes)],
    ['LBAs written', `${d.lbasWritten} (lifetime)`],
  ];
  PANEL.dataset.state = d.state;
  const parts = [el('h4', {}, `${ns} · zone ${z}`), el('dl', {}, ...rows.flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]))];
  if (pinned && !conv) {
    const result = el('div', { class: 'result' });
    parts.push(el('div', { class: 'commands' }, ...commands.map((c) => {
      const b = el('button', { type: 'button', 'data-command': c }, c);
      b.addEventListener('click', () => zoneCommand(ns, Number(z), c, result));
      return b;
    })), result);
  } else if (!conv) {
    parts.push(el('div', { class: 'hint' }, 'click the zone for zone commands'));
  }
  PANEL.replaceChildren(...parts);
}

async function zoneCommand(ns, z, command, result) {
  if (!window.confirm(`${command} zone ${z} of ${ns}?`)) return;
  try {
    const r = await fetch(`api/ns/${encodeURIComponent(ns)}/ctl`, {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ command, zone: z }),
    });
    const body = await r.json();
    result.dataset.ok = String(r.ok);
    result.textContent = r.ok ? `done: ${body.command}` : body.error;
  } catch (err) {
    result.dataset.ok = 'false';
    result.textContent = err.message;
  }
}

// ---------------------------------------------------------------------------------------------
// The event stream

function onLayout(state) {
  setStatus('live', 'live');
  document.getElementById('mount').textContent = state.mount;
  legend = state.legend.map((s) => ({ ...s, pixel: pixel(rgb(s.color)), tintPixel: pixel(rgb(s.tint)) }));
  legendByState = new Map(legend.map((s) => [s.state, s]));
  background = rgb(state.background);
  commands = state.commands;
  const names = new Set(state.namespaces.map((l) => l.name));
  for (const [name, v] of views) {
    if (!names.has(name)) {
      v.section.remove();
      views.delete(name);
    }
  }
  for (const l of state.namespaces) {
    const old = views.get(l.name);
    if (old && old.n === l.nrZones) continue;
    const v = new NamespaceView(l);
    if (old) old.section.replaceWith(v.section);
    else MAIN.append(v.section);
    views.set(l.name, v);
    v.arrange();
  }
  document.body.dataset.namespaces = [...views.keys()].join(' ');
  const none = document.getElementById('no-namespaces');
  if (views.size === 0 && !none) MAIN.append(el('p', { id: 'no-namespaces', class: 'note' }, `${state.mount} serves no zoned namespace now (unmounted, or every namespace detached); waiting for one.`));
  else if (views.size > 0 && none) none.remove();
}

function connect() {
  const source = new EventSource('api/events');
  source.onopen = () => setStatus('live', 'live');
  source.onerror = () => setStatus('reconnecting', 'connection lost: reconnecting…');
  source.addEventListener('layout', (e) => onLayout(JSON.parse(e.data)));
  source.addEventListener('zones', (e) => {
    const f = JSON.parse(e.data);
    views.get(f.ns)?.apply(f);
  });
  source.addEventListener('log', (e) => {
    const f = JSON.parse(e.data);
    views.get(f.ns)?.log(f);
  });
  // The server keeps trying; the next layout means the device answers again.
  source.addEventListener('gone', (e) => setStatus('gone', `the device does not answer: ${JSON.parse(e.data).message}`));
}

let resizeTimer;
window.addEventListener('resize', () => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(() => {
    for (const v of views.values()) v.arrange();
  }, 150);
});

connect();
