import { describe, expect, it } from 'vitest';
import { ctlLines, parseCommand } from '../../src/control/commands.js';
import { GeometryError, MAX_ZONES, resolveGeometry } from '../../src/engine/geometry.js';
import { explanation } from '../../src/cli/control.js';

describe('ctl writes', () => {
  it('split into lines with the byte where each ends, blank lines skipped, multi-byte text counted in bytes', () => {
    const buf = Buffer.from('open 1\n\n  reset 2 \né\nclose 3');
    expect(ctlLines(buf, buf.length)).toEqual([
      { line: 'open 1', end: 7 },
      { line: 'reset 2', end: 19 },
      { line: 'é', end: 22 },
      { line: 'close 3', end: 29 },
    ]);
    expect(ctlLines(buf, 9)).toEqual([{ line: 'open 1', end: 7 }]);
    expect(ctlLines(Buffer.from('\n \n'), 3)).toEqual([]);
  });
});

describe('ctl zone indexes', () => {
  it('an index out of range is quoted as written, also beyond the precision of a double', () => {
    expect(() => parseCommand('open 16', 16)).toThrow('zone 16 is out of range (the namespace has 16 zones: 0..15)');
    expect(() => parseCommand('open 99999999999999999999', 16)).toThrow('zone 99999999999999999999 is out of range');
  });
});

describe('geometry limits', () => {
  it('refuses more zones than MAX_ZONES with a message naming the count', () => {
    expect(resolveGeometry({ capacity: MAX_ZONES * 4096, zoneSize: 4096, lbaSize: 4096, convZones: 0 }).zoneSize).toBe(4096);
    expect(() => resolveGeometry({ capacity: 2 * MAX_ZONES * 4096, zoneSize: 4096, lbaSize: 4096 })).toThrow(GeometryError);
    expect(() => resolveGeometry({ capacity: 2 ** 40, zoneSize: 512, lbaSize: 512 })).toThrow(/2147483648 zones is too many/);
  });
});

describe('the CLI explains a refused ctl command with its own errors line', () => {
  const lines = [
    '2026-12-03T17:00:00.000Z zone open zone=8 lba=8192 wp=8262 status=0x1bf "Invalid Zone State Transition" errno=EIO: cannot open zone 8 in state Full',
    '2026-12-03T17:00:00.001Z ctl "bogus 3": unknown command',
    // Another process's refusal, after ours:
    '2026-12-03T17:00:00.002Z write zone=3 lba=3072 wp=3100 status=0x1bc "Zone Invalid Write" errno=EIO: not at the write pointer',
  ];
  it('finds the zone refusal or the quoted line even when others came later; else the newest line', () => {
    expect(explanation(lines, 'open 8')).toBe(lines[0]);
    expect(explanation(lines, 'bogus 3')).toBe(lines[1]);
    expect(explanation(lines, 'close 8')).toBe(lines[2]);
    expect(explanation([], 'open 8')).toBe('');
  });
});
