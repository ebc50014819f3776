/**
 * zones.bin: the encoder against the engine's own descriptors, partial ranges against the whole
 * file, the decoder against the encoder, and refusals of what is not a zones.bin file.
 */
import { describe, it, expect } from 'vitest';
import { ZonedNamespace, ZoneState, ZoneType, ZoneAttr, MiB } from '../../src/engine/index.js';
import {
  ZONES_BIN_HEADER_SIZE, ZONES_BIN_RECORD_SIZE, ZoneRecordFlag, ZonesBinError, decodeZoneRecord, decodeZonesBin,
  decodeZonesBinHeader, encodeZonesBin, readZonesBin, zonesBinSize,
} from '../../src/format/zones-bin.js';
import { mulberry32 } from '../helpers/prng.mjs';

function busyEngine(): ZonedNamespace {
  const e = new ZonedNamespace({
    capacity: 64 * MiB, zoneSize: 4 * MiB, zoneCapacity: 3 * MiB, lbaSize: 4096, convZones: 2, maxOpen: 4, maxActive: 5, zasl: 64 * 1024,
  });
  const zl = e.zoneLbas;
  expect(e.write(2 * zl, 8)).toBeUndefined(); // implicitly open, wp 8
  expect(e.manage('open', 3)).toBeUndefined(); // explicitly open
  expect(e.write(4 * zl, 1)).toBeUndefined();
  expect(e.manage('close', 4)).toBeUndefined(); // closed
  expect(e.manage('finish', 5)).toBeUndefined(); // full
  expect(e.injectFault('readonly', 6)).toBeUndefined();
  expect(e.injectFault('offline', 7)).toBeUndefined();
  expect(e.setRecommendation(8, ZoneAttr.RZR, true)).toBeUndefined();
  expect(e.write(9 * zl, 4)).toBeUndefined();
  expect(e.manage('reset', 9)).toBeUndefined();
  return e;
}

describe('zones.bin', () => {
  it('has a 64-byte header with the geometry, limits and live counts', () => {
    const e = busyEngine();
    const buf = encodeZonesBin({ engine: e, generation: 0x1234_5678_9abc_def0n });
    expect(buf.length).toBe(zonesBinSize(16));
    expect(buf.length).toBe(64 + 48 * 16);
    expect(buf.toString('latin1', 0, 4)).toBe('ZFZB');
    const h = decodeZonesBinHeader(buf);
    expect(h).toEqual({
      version: 1, headerSize: 64, recordSize: 48, flags: 0, nrZones: 16, lbaSize: 4096, maxOpen: 4, maxActive: 5,
      openZones: 2, activeZones: 3, zoneAppendBytes: 65536, zoneLbas: 1024, generation: 0x1234_5678_9abc_def0n,
      conventionalZones: 2,
    });
    // Reserved bytes are zero.
    expect(buf.readUInt32LE(60)).toBe(0);
  });

  it('encodes every zone as the engine describes it', () => {
    const e = busyEngine();
    const { zones } = decodeZonesBin(encodeZonesBin({ engine: e, generation: 1n }));
    expect(zones).toHaveLength(e.nrZones);
    for (const r of zones) {
      const d = e.describe(r.zone);
      expect(r.start).toBe(d.zslba);
      expect(r.capacity).toBe(d.zcap);
      expect(r.type).toBe(d.type);
      expect(r.state).toBe(d.state);
      expect(r.attrs).toBe(d.attrs);
      expect(r.resets).toBe(d.resets);
      expect(r.finishes).toBe(d.finishes);
      expect(r.lbasWritten).toBe(d.lbasWritten);
    }
    const zl = e.zoneLbas;
    expect(zones[0]).toMatchObject({ type: ZoneType.CONVENTIONAL, state: ZoneState.NOT_WP, wp: 0, capacity: zl });
    expect(zones[2]).toMatchObject({ state: ZoneState.IMPLICIT_OPEN, wp: 2 * zl + 8, lbasWritten: 8 });
    expect(zones[3]).toMatchObject({ state: ZoneState.EXPLICIT_OPEN, wp: 3 * zl });
    expect(zones[4]).toMatchObject({ state: ZoneState.CLOSED, wp: 4 * zl + 1 });
    // Full: start + capacity, not start + zone size.
    expect(zones[5]).toMatchObject({ state: ZoneState.FULL, wp: 5 * zl + 768, finishes: 1 });
    expect(zones[6]!.state).toBe(ZoneState.READ_ONLY);
    expect(zones[7]!.state).toBe(ZoneState.OFFLINE);
    expect(zones[8]!.attrs).toBe(ZoneAttr.RZR);
    expect(zones[9]).toMatchObject({ state: ZoneState.EMPTY, wp: 9 * zl, resets: 1, lbasWritten: 4 });
  });

  it('answers any byte range with exactly the bytes of the whole file', () => {
    const e = busyEngine();
    const src = { engine: e, generation: 42n };
    const whole = encodeZonesBin(src);
    const rnd = mulberry32(7);
    const cases: Array<[number, number]> = [[0, 64], [0, 10], [60, 10], [64, 48], [64 + 48 * 3, 96], [whole.length - 5, 100], [whole.length, 10]];
    for (let i = 0; i < 200; i++) cases.push([Math.floor(rnd() * whole.length), 1 + Math.floor(rnd() * 300)]);
    for (const [pos, len] of cases) {
      const out = Buffer.alloc(len, 0xaa);
      const n = readZonesBin(src, out, len, pos);
      const want = whole.subarray(pos, pos + len);
      expect(n).toBe(want.length);
      expect(out.subarray(0, n).equals(want)).toBe(true);
    }
  });

  it('flags host-aware zones written away from the write pointer', () => {
    const e = new ZonedNamespace({ capacity: 16 * MiB, zoneSize: 4 * MiB, zoneModel: 'host-aware', convZones: 0 });
    expect(e.write(e.zoneLbas + 10, 1)).toBeUndefined();
    const { zones } = decodeZonesBin(encodeZonesBin({ engine: e, generation: 0n }));
    expect(zones[1]!.type).toBe(ZoneType.SEQ_WRITE_PREFERRED);
    expect(zones[1]!.flags).toBe(ZoneRecordFlag.NON_SEQ);
    expect(zones[0]!.flags).toBe(0);
  });

  it('decodes a prefix of whole records and reuses a record object', () => {
    const e = busyEngine();
    const whole = encodeZonesBin({ engine: e, generation: 0n });
    const prefix = decodeZonesBin(whole.subarray(0, ZONES_BIN_HEADER_SIZE + 3 * ZONES_BIN_RECORD_SIZE + 7));
    expect(prefix.zones).toHaveLength(3);
    const r = decodeZoneRecord(whole, ZONES_BIN_HEADER_SIZE + 5 * ZONES_BIN_RECORD_SIZE, 5);
    const again = decodeZoneRecord(whole, ZONES_BIN_HEADER_SIZE + 2 * ZONES_BIN_RECORD_SIZE, 2, r);
    expect(again).toBe(r);
    expect(again.zone).toBe(2);
  });

  it('refuses what is not a zones.bin file', () => {
    const good = encodeZonesBin({ engine: busyEngine(), generation: 0n });
    expect(() => decodeZonesBinHeader(good.subarray(0, 63))).toThrow(ZonesBinError);
    const bad = Buffer.from(good);
    bad.write('ZFZX', 0, 'latin1');
    expect(() => decodeZonesBinHeader(bad)).toThrow(/not a zones.bin file/);
    const v2 = Buffer.from(good);
    v2.writeUInt16LE(2, 4);
    expect(() => decodeZonesBinHeader(v2)).toThrow(/version 2/);
    expect(() => decodeZoneRecord(good, good.length - 10, 0)).toThrow(/past the end/);
  });
});
