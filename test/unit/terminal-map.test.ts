/** The terminal map's rules, on made-up zone tables: colour choice, fill glyphs, width and grouping. */
import { describe, expect, it } from 'vitest';
import { ZoneTable } from '../../src/client/zone-table.js';
import { ZoneState, ZoneType } from '../../src/engine/zone.js';
import { renderMap, terminalStyle } from '../../src/view/terminal-map.js';

const PLAIN = { color: 'none', unicode: false } as const;
const RICH = { color: '256', unicode: true } as const;

/** n zones of 100 LBAs; `states` gives [state, written LBAs] for the first zones, the rest empty. */
function table(n: number, states: [ZoneState, number][] = [], conventional = 0): ZoneTable {
  const t = new ZoneTable({
    nrZones: n, lbaSize: 4096, maxOpen: 4, maxActive: 0, openZones: 1, activeZones: 2, zoneAppendBytes: 0,
    zoneLbas: 100, generation: 1n, conventionalZones: conventional,
  });
  for (let z = 0; z < n; z++) {
    const conv = z < conventional;
    const [state, written] = conv ? [ZoneState.NOT_WP, 0] : (states[z] ?? [ZoneState.EMPTY, 0]);
    t.set(z, {
      zone: z, start: z * 100, wp: z * 100 + written, capacity: 100, lbasWritten: written, resets: 0, finishes: 0,
      type: conv ? ZoneType.CONVENTIONAL : ZoneType.SEQ_WRITE_REQUIRED, state, attrs: 0, flags: 0,
    });
  }
  return t;
}

const ESC = /\x1b\[[0-9;?]*[A-Za-z]/g;

describe('terminalStyle', () => {
  it('NO_COLOR wins over everything; a pipe is plain unless FORCE_COLOR asks', () => {
    expect(terminalStyle(true, { TERM: 'xterm-256color', NO_COLOR: '1', FORCE_COLOR: '2' }).color).toBe('none');
    expect(terminalStyle(true, { TERM: 'xterm-256color', NO_COLOR: '' }).color).toBe('256'); // empty: not set (no-color.org)
    expect(terminalStyle(false, { TERM: 'xterm-256color', COLORTERM: 'truecolor' }).color).toBe('none');
    expect(terminalStyle(false, { FORCE_COLOR: '1' }).color).toBe('16');
    expect(terminalStyle(false, { FORCE_COLOR: '3' }).color).toBe('256');
    expect(terminalStyle(true, { TERM: 'xterm-256color', FORCE_COLOR: '0' }).color).toBe('none');
    expect(terminalStyle(true, { TERM: 'dumb' }).color).toBe('none');
    expect(terminalStyle(true, { TERM: 'xterm' }).color).toBe('16');
    expect(terminalStyle(true, { TERM: 'screen' }).color).toBe('256');
    expect(terminalStyle(true, {}).color).toBe('none');
  });

  it('UTF-8 from LC_ALL, then LC_CTYPE, then LANG', () => {
    expect(terminalStyle(true, { TERM: 'xterm', LANG: 'en_US.UTF-8' }).unicode).toBe(true);
    expect(terminalStyle(true, { TERM: 'xterm', LC_ALL: 'C', LANG: 'en_US.UTF-8' }).unicode).toBe(false);
    expect(terminalStyle(true, { TERM: 'xterm', LC_CTYPE: 'C.utf8' }).unicode).toBe(true);
  });
});

describe('renderMap', () => {
  it('one letter per zone, rows labelled with their first zone, a multiple of ten wide', () => {
    const t = table(25, [[ZoneState.EMPTY, 0], [ZoneState.IMPLICIT_OPEN, 10], [ZoneState.EXPLICIT_OPEN, 0], [ZoneState.CLOSED, 50],
      [ZoneState.FULL, 100], [ZoneState.READ_ONLY, 30], [ZoneState.OFFLINE, 0]], 0);
    const out = renderMap(t, { name: 'ns', width: 26, style: PLAIN });
    expect(out.split('\n').filter((l) => /^ ?\d+ /.test(l))).toEqual([' 0 .oOcFRX' + '.'.repeat(13), '20 .....']);
    expect(out.replace(/\n/g, ' ')).toContain('open 1 of 4, active 2 (no limit)');
  });

  it('block heights in eighths, at least one for a zone with data', () => {
    const t = table(5, [[ZoneState.IMPLICIT_OPEN, 1], [ZoneState.IMPLICIT_OPEN, 50], [ZoneState.CLOSED, 99], [ZoneState.FULL, 100], [ZoneState.EMPTY, 0]]);
    const row = renderMap(t, { name: 'ns', width: 40, style: RICH }).split('\n')[2]!.replace(ESC, '');
    expect(row).toBe('0 ▁▄██ ');
  });

  it('groups zones when the height is known, showing the most telling state and saying so', () => {
    const states: [ZoneState, number][] = Array.from({ length: 1000 }, () => [ZoneState.FULL, 100]);
    states[500] = [ZoneState.OFFLINE, 0];
    states[501] = [ZoneState.IMPLICIT_OPEN, 5];
    const out = renderMap(table(1000, states), { name: 'ns', width: 50, height: 16, style: PLAIN });
    const lines = out.trimEnd().split('\n');
    expect(lines.length).toBeLessThanOrEqual(16);
    const m = /^(\d+) zones per cell \(1000 zones in (\d+) cells\)/m.exec(out)!;
    expect(m).not.toBeNull();
    const grid = lines.filter((l) => /^ *\d+ [.oOcFRX#]+$/.test(l)).map((l) => l.replace(/^ *\d+ /, '')).join('');
    expect(grid.length).toBe(Number(m[2]));
    // The offline zone (500) and the open one share or neighbour a cell: the offline one shows.
    expect(grid[Math.floor(500 / Number(m[1]))]).toBe('X');
    expect(grid.replace(/F/g, '')).toMatch(/^X?o?X?$/);
    for (const l of lines) expect(l.length).toBeLessThanOrEqual(50);
  });

  it('never wider than the screen, even a narrow one', () => {
    for (const width of [20, 21, 29, 33, 61]) {
      const out = renderMap(table(300, [], 2), { name: 'nvme0n1', width, style: RICH });
      for (const l of out.trimEnd().split('\n')) expect([...l.replace(ESC, '')].length, l).toBeLessThanOrEqual(width);
    }
  });
});
