import { describe, expect, it } from 'vitest';
import { ctlLines } from '../../src/control/commands.js';
import { GeometryError, MAX_ZONES, resolveGeometry } from '../../src/engine/geometry.js';

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

describe('geometry limits', () => {
  it('refuses more zones than MAX_ZONES with a message naming the count', () => {
    expect(resolveGeometry({ capacity: MAX_ZONES * 4096, zoneSize: 4096, lbaSize: 4096, convZones: 0 }).zoneSize).toBe(4096);
    expect(() => resolveGeometry({ capacity: 2 * MAX_ZONES * 4096, zoneSize: 4096, lbaSize: 4096 })).toThrow(GeometryError);
    expect(() => resolveGeometry({ capacity: 2 ** 40, zoneSize: 512, lbaSize: 512 })).toThrow(/2147483648 zones is too many/);
  });
});
