/**
 * The terminal zone map (`zonefuse map`): one cell per zone (or per group of zones when the
 * namespace has more zones than the screen has cells), coloured by state, showing the written
 * part as the height of a block where the terminal can draw it; the open/active counts against
 * the limits; a legend. Pure: the zones, the size of the screen and its abilities in, text out.
 */
import { ZoneState } from '../engine/zone.js';
import { ZoneTable } from '../client/zone-table.js';
import { AGGREGATION_RULE, STATE_STYLES, StateStyle, significance, styleOf } from './legend.js';

export interface TerminalStyle {
  /** 'none': plain characters; '16'/'256': that many colours. */
  color: 'none' | '16' | '256';
  /** The terminal shows UTF-8 (block characters for the fill level). */
  unicode: boolean;
}

export interface MapOptions {
  name: string;
  /** Columns of the screen. */
  width: number;
  /** Lines of the screen, if known: the map then fits it, aggregating zones per cell. */
  height?: number;
  style: TerminalStyle;
}

/** Block heights in eighths: the written part of a zone. */
const EIGHTHS = [' ', '▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
const RESET = '\x1b[0m';

/** What a terminal can show, from its environment (NO_COLOR, FORCE_COLOR, TERM, COLORTERM, locale). */
export function terminalStyle(isTTY: boolean, env: NodeJS.ProcessEnv): TerminalStyle {
  const locale = env.LC_ALL || env.LC_CTYPE || env.LANG || '';
  const unicode = /utf-?8/i.test(locale);
  // https://no-color.org: set and not empty means no colour, whatever else says.
  if (env.NO_COLOR) return { color: 'none', unicode };
  const force = env.FORCE_COLOR;
  if (force !== undefined && force !== '') {
    if (force === '0' || force === 'false') return { color: 'none', unicode };
    return { color: force === '1' ? '16' : '256', unicode };
  }
  if (!isTTY || !env.TERM || env.TERM === 'dumb') return { color: 'none', unicode };
  const rich = /256|truecolor|24bit/i.test(env.TERM) || /truecolor|24bit/i.test(env.COLORTERM ?? '') || env.TERM.startsWith('tmux') || env.TERM.startsWith('screen');
  return { color: rich ? '256' : '16', unicode };
}

/** Whether cells show the fill level (block heights need colour and UTF-8). */
export function showsFill(style: TerminalStyle): boolean {
  return style.color === '256' && style.unicode;
}

function sgr(s: StateStyle, style: TerminalStyle): string {
  if (style.color === '16') return `\x1b[${s.ansi16}m`;
  if (style.color === '256') return showsFill(style) ? `\x1b[38;5;${s.ansi256};48;5;${s.ansi256Dim}m` : `\x1b[38;5;${s.ansi256}m`;
  return '';
}

function glyph(s: StateStyle, fill: number, style: TerminalStyle): string {
  if (!showsFill(style)) return s.glyph;
  // Nothing to measure in a conventional zone; an offline zone should catch the eye.
  if (s.state === ZoneState.NOT_WP || s.state === ZoneState.OFFLINE) return EIGHTHS[8]!;
  // A zone with any data shows at least one eighth: an open zone is never drawn as empty.
  return EIGHTHS[fill > 0 ? Math.max(1, Math.round(fill * 8)) : 0]!;
}

/** Greedy word wrap of one line of prose to `width` columns. */
function wrap(text: string, width: number): string[] {
  const out: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line && line.length + 1 + word.length > width) {
      out.push(line);
      line = word;
    } else {
      line = line ? `${line} ${word}` : word;
    }
  }
  if (line) out.push(line);
  return out;
}

function mib(bytes: number): string {
  if (bytes >= 1 << 30 && bytes % (1 << 30) === 0) return `${bytes / (1 << 30)} GiB`;
  if (bytes >= 1 << 20 && bytes % (1 << 20) === 0) return `${bytes / (1 << 20)} MiB`;
  if (bytes >= 1024 && bytes % 1024 === 0) return `${bytes / 1024} KiB`;
  return `${bytes} bytes`;
}

function limit(now: number, max: number): string {
  return max === 0 ? `${now} (no limit)` : `${now} of ${max}`;
}

/** The cell standing for zones [from, to): most telling state, written fraction of their capacity. */
function cellOf(t: ZoneTable, from: number, to: number): { state: number; fill: number } {
  let state = t.state[from]!;
  let data = 0;
  let cap = 0;
  for (let z = from; z < to; z++) {
    const s = t.state[z]!;
    if (significance(s) > significance(state)) state = s;
    if (s === ZoneState.NOT_WP) continue;
    cap += t.capacity[z]!;
    data += s === ZoneState.FULL ? t.capacity[z]! : t.dataLbas(z);
  }
  return { state, fill: cap > 0 ? data / cap : 0 };
}

export function renderMap(t: ZoneTable, opts: MapOptions): string {
  const { style } = opts;
  const width = Math.max(20, opts.width);
  const h = t.header;
  const n = t.nrZones;
  const seq = n - h.conventionalZones;
  const cap = seq > 0 ? t.capacity[h.conventionalZones]! * h.lbaSize : 0;
  const zoneBytes = h.zoneLbas * h.lbaSize;

  const head: string[] = [
    ...wrap(`${opts.name}: ${n} zones of ${mib(zoneBytes)}${seq > 0 && cap !== zoneBytes ? ` (capacity ${mib(cap)})` : ''}` +
      `${h.conventionalZones ? `, ${h.conventionalZones} conventional` : ''}, ${h.lbaSize}-byte LBAs`, width),
    ...wrap(`open ${limit(h.openZones, h.maxOpen)}, active ${limit(h.activeZones, h.maxActive)}`, width),
  ];

  const counts = new Map<number, number>();
  for (let z = 0; z < n; z++) counts.set(t.state[z]!, (counts.get(t.state[z]!) ?? 0) + 1);
  const legendItems = STATE_STYLES.map((s) => {
    const sample = glyph(s, s.state === ZoneState.EMPTY ? 0 : s.state === ZoneState.FULL ? 1 : 0.5, style);
    const cell = style.color === 'none' ? sample : `${sgr(s, style)}${sample}${RESET}`;
    return { plain: `${sample} ${s.label} ${counts.get(s.state) ?? 0}`, text: `${cell} ${s.label} ${counts.get(s.state) ?? 0}` };
  });
  // Wrap the legend on its plain width, then swap in the coloured cells.
  const legend: string[] = [];
  let plainLine = '';
  let line = '';
  for (const item of legendItems) {
    if (plainLine && plainLine.length + 2 + item.plain.length > width) {
      legend.push(line);
      plainLine = '';
      line = '';
    }
    plainLine += (plainLine ? '  ' : '') + item.plain;
    line += (line ? '  ' : '') + item.text;
  }
  if (line) legend.push(line);
  if (showsFill(style)) legend.push(...wrap(`block height: written part of the zone (${EIGHTHS.slice(1).join('')})`, width));

  const label = String(Math.max(0, n - 1)).length;
  let perRow = Math.max(1, width - label - 1);
  if (perRow >= 10) perRow -= perRow % 10;

  let perCell = 1;
  const chrome = head.length + legend.length;
  let note: string[] = [];
  if (opts.height !== undefined && Math.ceil(n / perRow) > opts.height - chrome) {
    const probe = wrap(`00000 zones per cell (${n} zones in 00000 cells): ${AGGREGATION_RULE}`, width);
    const rows = Math.max(1, opts.height - chrome - probe.length);
    perCell = Math.ceil(n / (perRow * rows));
  }
  const cells = Math.ceil(n / perCell);
  if (perCell > 1) note = wrap(`${perCell} zones per cell (${n} zones in ${cells} cells): ${AGGREGATION_RULE}`, width);

  const grid: string[] = [];
  for (let c0 = 0; c0 < cells; c0 += perRow) {
    let row = String(c0 * perCell).padStart(label) + ' ';
    let open = '';
    for (let c = c0; c < Math.min(cells, c0 + perRow); c++) {
      const from = c * perCell;
      const { state, fill } = cellOf(t, from, Math.min(n, from + perCell));
      const s = styleOf(state);
      if (style.color !== 'none') {
        const code = sgr(s, style);
        if (code !== open) {
          row += code;
          open = code;
        }
      }
      row += glyph(s, fill, style);
    }
    if (open) row += RESET;
    grid.push(row);
  }
  return [...head, ...grid, ...note, ...legend].join('\n') + '\n';
}
