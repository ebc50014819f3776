/**
 * Zone Random Write Area in the engine: geometry validation, every transition that allocates,
 * keeps or releases a ZRWA, every refusal with its status, implicit and explicit flushes, the
 * window's readable extent, power cycles and loss, loading and the change journal.
 */
import { describe, it, expect } from 'vitest';
import {
  ZonedNamespace, ZoneAttr, Status, GeometryError, ZoneLoadError, resolveGeometry, isRejection,
  type Geometry, type Rejection,
} from '../../src/engine/index.js';
import { E, IO, EO, C, F, RO, OFF } from '../helpers/states.js';

/**
 * 512 B LBAs, zones of 64 LBAs with capacity 48, no conventional zones; ZRWA of 8 LBAs flushed
 * in units of 4, 2 ZRWA resources, max 3 open / 4 active.
 */
function geo(o: Partial<Geometry> = {}): Partial<Geometry> {
  return {
    lbaSize: 512, capacity: 8 * 64 * 512, zoneSize: 64 * 512, zoneCapacity: 48 * 512, convZones: 0,
    maxOpen: 3, maxActive: 4, zrwas: 8 * 512, zrwafg: 4 * 512, numzrwa: 2, ...o,
  };
}

function ns(o: Partial<Geometry> = {}): ZonedNamespace {
  return new ZonedNamespace(geo(o));
}

function ok(r: Rejection | undefined | number): void {
  if (isRejection(r)) throw new Error(`unexpected rejection: ${r.detail} (${r.status.name})`);
}

function refused(r: Rejection | undefined | number, status: (typeof Status)[keyof typeof Status]): Rejection {
  if (!isRejection(r)) throw new Error(`expected ${status.name}, got success`);
  expect(r.status).toBe(status);
  return r;
}

const zs = (z: number): number => z * 64;
const hasZrwa = (n: ZonedNamespace, z: number): boolean => (n.attrsOf(z) & ZoneAttr.ZRWAV) !== 0;

/** Everything observable about a zone, to prove a refusal changed nothing. */
function snapshot(n: ZonedNamespace): unknown {
  const zones = [];
  for (let z = 0; z < n.nrZones; z++) {
    zones.push([n.stateOf(z), n.wpOf(z), n.attrsOf(z), n.zrwaEndOf(z), n.dataLbas(z), n.lbasWrittenOf(z)]);
  }
  return { zones, open: n.openCount, active: n.activeCount, zrwa: n.zrwaInUse };
}

describe('ZRWA geometry', () => {
  it('defaults the flush granularity to one LBA and the resources to max active', () => {
    const g = resolveGeometry(geo({ zrwafg: undefined, numzrwa: undefined }));
    expect(g.zrwafg).toBe(512);
    expect(g.numzrwa).toBe(4);
    expect(resolveGeometry(geo({ maxOpen: 0, maxActive: 0, numzrwa: undefined })).numzrwa).toBe(8);
    // The default active limit (14) above the sequential zones (2): the default follows the zones.
    const small = resolveGeometry({ capacity: 4 * 16 * 2 ** 20, zoneSize: 16 * 2 ** 20, lbaSize: 4096, zrwas: 8192 });
    expect(small.maxActive).toBe(14);
    expect(small.numzrwa).toBe(2);
  });

  it.each([
    [{ zrwas: 1000 }, 'zrwas', /multiple of the LBA size/],
    [{ zrwafg: 3 * 512 }, 'zrwafg', /does not divide/],
    [{ zrwafg: 700 }, 'zrwafg', /multiple of the LBA size/],
    [{ numzrwa: 5 }, 'numzrwa', /exceed max active/],
    [{ maxOpen: 0, maxActive: 0, numzrwa: 9 }, 'numzrwa', /number of sequential zones/],
    [{ zrwas: 64 * 512 }, 'zrwas', /exceeds the zone capacity/],
    [{ zrwas: 0 }, 'zrwafg', /needs a ZRWA size/],
    [{ zrwas: 0, zrwafg: 0 }, 'numzrwa', /need a ZRWA size/],
    [{ zoneModel: 'host-aware' as const }, 'zrwas', /host-managed/],
  ])('refuses %o', (o, field, msg) => {
    let err: unknown;
    try {
      resolveGeometry(geo(o));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(GeometryError);
    expect((err as GeometryError).field).toBe(field);
    expect((err as Error).message).toMatch(msg);
  });
});

describe('open with a ZRWA', () => {
  it.each([
    ['Empty', E, () => {}],
    ['Closed', C, (n: ZonedNamespace) => { ok(n.write(zs(1), 4)); ok(n.manage('close', 1)); }],
    ['Implicitly Opened', IO, (n: ZonedNamespace) => ok(n.write(zs(1), 4))],
    ['Explicitly Opened', EO, (n: ZonedNamespace) => ok(n.manage('open', 1))],
  ])('allocates from %s → Explicitly Opened with ZRWAV', (_name, from, setup) => {
    const n = ns();
    setup(n);
    expect(n.stateOf(1)).toBe(from);
    ok(n.manage('open', 1, { zrwa: true }));
    expect(n.stateOf(1)).toBe(EO);
    expect(hasZrwa(n, 1)).toBe(true);
    expect(n.zrwaInUse).toBe(1);
    expect(n.lastChanges()).toEqual([1]);
  });

  it('opening again keeps the one resource', () => {
    const n = ns();
    ok(n.manage('open', 1, { zrwa: true }));
    ok(n.manage('close', 1));
    ok(n.manage('open', 1, { zrwa: true }));
    ok(n.manage('open', 1));
    expect(n.zrwaInUse).toBe(1);
    expect(hasZrwa(n, 1)).toBe(true);
  });

  it('needs the write pointer on a flush granularity boundary (ZRWA Resources Unavailable)', () => {
    const n = ns();
    ok(n.write(zs(1), 3));
    const before = snapshot(n);
    refused(n.manage('open', 1, { zrwa: true }), Status.ZRWA_UNAVAILABLE);
    expect(snapshot(n)).toEqual(before);
    ok(n.write(zs(1) + 3, 1));
    ok(n.manage('open', 1, { zrwa: true }));
  });

  it('refuses when every ZRWA resource is taken, after the active and open checks', () => {
    const n = ns();
    ok(n.manage('open', 0, { zrwa: true }));
    ok(n.manage('open', 1, { zrwa: true }));
    const before = snapshot(n);
    const r = refused(n.manage('open', 2, { zrwa: true }), Status.ZRWA_UNAVAILABLE);
    expect(r.detail).toMatch(/all 2 ZRWA resources/);
    expect(r.status.errno).toBe('EIO');
    expect(snapshot(n)).toEqual(before);
    ok(n.manage('open', 2));
    refused(n.manage('open', 3, { zrwa: true }), Status.TOO_MANY_OPEN);
  });

  it.each([
    ['Full', F, (n: ZonedNamespace) => ok(n.manage('finish', 1))],
    ['Read Only', RO, (n: ZonedNamespace) => ok(n.injectFault('readonly', 1))],
    ['Offline', OFF, (n: ZonedNamespace) => ok(n.injectFault('offline', 1))],
  ])('is an invalid transition from %s', (_name, st, setup) => {
    const n = ns();
    setup(n);
    expect(n.stateOf(1)).toBe(st);
    refused(n.manage('open', 1, { zrwa: true }), Status.INVALID_TRANSITION);
    expect(n.zrwaInUse).toBe(0);
  });

  it('is refused without ZRWA support, with select all, and for other commands', () => {
    refused(ns({ zrwas: 0, zrwafg: 0, numzrwa: 0 }).manage('open', 1, { zrwa: true }), Status.INVALID_ZONE_OP);
    refused(ns().manage('open', 'all', { zrwa: true }), Status.INVALID_FIELD);
    refused(ns().manage('close', 1, { zrwa: true }), Status.INVALID_FIELD);
  });
});

describe('writes in a ZRWA zone', () => {
  function zrwaZone(): ZonedNamespace {
    const n = ns();
    ok(n.manage('open', 1, { zrwa: true }));
    return n;
  }

  it('land anywhere in the window, overwrite freely and leave the write pointer alone', () => {
    const n = zrwaZone();
    ok(n.write(zs(1) + 5, 2));
    expect(n.wpOf(1)).toBe(zs(1));
    expect(n.dataLbas(1)).toBe(7);
    ok(n.write(zs(1), 3));
    ok(n.write(zs(1) + 1, 1));
    ok(n.write(zs(1) + 5, 3));
    expect(n.wpOf(1)).toBe(zs(1));
    expect(n.zrwaEndOf(1)).toBe(zs(1) + 8);
    expect(n.lbasWrittenOf(1)).toBe(9);
  });

  it('flush implicitly, in granularity units, when they end beyond the window', () => {
    const n = zrwaZone();
    ok(n.write(zs(1) + 8, 1)); // one LBA past the window: one unit of 4 is flushed
    expect(n.wpOf(1)).toBe(zs(1) + 4);
    ok(n.write(zs(1) + 10, 6)); // ends at +16: window [4, 12) → flush 4 → wp +8
    expect(n.wpOf(1)).toBe(zs(1) + 8);
    expect(n.zrwaEndOf(1)).toBe(zs(1) + 16);
    expect(n.dataLbas(1)).toBe(16);
  });

  it('refuse writes below the write pointer or beyond twice the window (Zone Invalid Write)', () => {
    const n = zrwaZone();
    ok(n.write(zs(1) + 8, 1));
    const before = snapshot(n);
    refused(n.write(zs(1) + 3, 1), Status.ZONE_INVALID_WRITE);
    refused(n.write(zs(1) + 19, 2), Status.ZONE_INVALID_WRITE);
    expect(snapshot(n)).toEqual(before);
    ok(n.write(zs(1) + 19, 1)); // ends exactly at wp + 2 × ZRWAS
    expect(n.wpOf(1)).toBe(zs(1) + 12);
  });

  it('refuse writes past the zone capacity (Zone Boundary Error) and fill the zone at capacity', () => {
    const n = zrwaZone();
    for (let lba = 0; lba < 44; lba += 4) ok(n.write(zs(1) + lba, 4));
    expect(n.wpOf(1)).toBe(zs(1) + 36);
    refused(n.write(zs(1) + 46, 3), Status.ZONE_BOUNDARY_ERROR);
    ok(n.write(zs(1) + 44, 4)); // the window now reaches the capacity
    expect(n.wpOf(1)).toBe(zs(1) + 40);
    expect(n.stateOf(1)).toBe(EO);
    ok(n.zrwaFlush(1, zs(1) + 47));
    expect(n.stateOf(1)).toBe(F);
    expect(hasZrwa(n, 1)).toBe(false);
    expect(n.zrwaInUse).toBe(0);
    expect(n.dataLbas(1)).toBe(48);
  });

  it('refuse zone append (Invalid Zone Operation Request)', () => {
    const n = zrwaZone();
    const r = refused(n.append(1, 1), Status.INVALID_ZONE_OP);
    expect(r.detail).toMatch(/ZRWA/);
    expect(n.append(2, 1)).toBe(zs(2));
  });

  it('reopen a Closed ZRWA zone implicitly, keeping the ZRWA', () => {
    const n = zrwaZone();
    ok(n.write(zs(1) + 2, 2));
    ok(n.manage('close', 1));
    expect(n.stateOf(1)).toBe(C);
    expect(n.dataLbas(1)).toBe(4);
    ok(n.write(zs(1), 1));
    expect(n.stateOf(1)).toBe(IO);
    expect(hasZrwa(n, 1)).toBe(true);
  });
});

describe('ZRWA flush', () => {
  function written(): ZonedNamespace {
    const n = ns();
    ok(n.manage('open', 1, { zrwa: true }));
    ok(n.write(zs(1), 6));
    return n;
  }

  it('commits up to and including the LBA, absolute or relative to the zone start', () => {
    const n = written();
    ok(n.zrwaFlush(1, zs(1) + 3));
    expect(n.wpOf(1)).toBe(zs(1) + 4);
    ok(n.zrwaFlush(1, 7)); // relative
    expect(n.wpOf(1)).toBe(zs(1) + 8);
    expect(n.zrwaEndOf(1)).toBe(zs(1) + 8); // flushing unwritten LBAs is allowed: they read as zeros
  });

  it.each([
    ['below the write pointer', (n: ZonedNamespace) => { ok(n.zrwaFlush(1, zs(1) + 3)); return zs(1) + 3; }, Status.ZONE_BOUNDARY_ERROR],
    ['past the window', () => zs(1) + 8, Status.ZONE_BOUNDARY_ERROR],
    ['not a whole granularity', () => zs(1) + 4, Status.INVALID_FIELD],
  ])('refuses an LBA %s', (_name, lba, status) => {
    const n = written();
    const at = lba(n);
    const before = snapshot(n);
    refused(n.zrwaFlush(1, at), status);
    expect(snapshot(n)).toEqual(before);
  });

  it('refuses zones without a ZRWA, conventional zones and namespaces without support', () => {
    const n = written();
    refused(n.zrwaFlush(2, zs(2) + 3), Status.INVALID_FIELD);
    refused(new ZonedNamespace(geo({ convZones: 1 })).zrwaFlush(0, 3), Status.INVALID_FIELD);
    refused(ns({ zrwas: 0, zrwafg: 0, numzrwa: 0 }).zrwaFlush(1, zs(1) + 3), Status.INVALID_ZONE_OP);
  });

  it('opens a Closed zone implicitly, needing an open resource', () => {
    const n = written();
    ok(n.manage('close', 1));
    ok(n.manage('open', 2));
    ok(n.manage('open', 3));
    ok(n.manage('open', 4));
    refused(n.zrwaFlush(1, zs(1) + 3), Status.TOO_MANY_OPEN);
    ok(n.manage('close', 4));
    ok(n.zrwaFlush(1, zs(1) + 3));
    expect(n.stateOf(1)).toBe(IO);
  });
});

describe('releasing the ZRWA', () => {
  it.each([
    ['finish commits the window', (n: ZonedNamespace) => ok(n.manage('finish', 1)), F, 6],
    ['finish all', (n: ZonedNamespace) => ok(n.manage('finish', 'all')), F, 6],
    ['reset discards it', (n: ZonedNamespace) => ok(n.manage('reset', 1)), E, 0],
    ['reset all', (n: ZonedNamespace) => ok(n.manage('reset', 'all')), E, 0],
    ['read only keeps the data', (n: ZonedNamespace) => ok(n.injectFault('readonly', 1)), RO, 6],
    ['offline', (n: ZonedNamespace) => ok(n.injectFault('offline', 1)), OFF, 0],
    ['an excursion', (n: ZonedNamespace) => { if (isRejection(n.excursion(1))) throw new Error('refused'); }, F, 6],
  ])('%s', (_name, act, state, data) => {
    const n = ns();
    ok(n.manage('open', 1, { zrwa: true }));
    ok(n.write(zs(1) + 2, 4));
    act(n);
    expect(n.stateOf(1)).toBe(state);
    expect(hasZrwa(n, 1)).toBe(false);
    expect(n.zrwaInUse).toBe(0);
    expect(n.dataLbas(1)).toBe(data);
    ok(n.manage('open', 2, { zrwa: true }));
    ok(n.manage('open', 3, { zrwa: true }));
  });
});

describe('ZRWA across power', () => {
  it('a power cycle keeps the zone Closed with its ZRWA, even with nothing written', () => {
    const n = ns();
    ok(n.manage('open', 1, { zrwa: true }));
    ok(n.manage('open', 2, { zrwa: true }));
    ok(n.write(zs(2) + 3, 1));
    n.powerCycleTransition();
    expect([n.stateOf(1), n.stateOf(2)]).toEqual([C, C]);
    expect([hasZrwa(n, 1), hasZrwa(n, 2)]).toEqual([true, true]);
    expect(n.dataLbas(2)).toBe(4);
  });

  it('a power loss rolls the write pointer and the window back to the durable point', () => {
    const n = ns();
    ok(n.manage('open', 1, { zrwa: true }));
    ok(n.write(zs(1), 2));
    const durableWp = Array.from({ length: 8 }, (_, z) => n.wpOf(z));
    const durableZrwa = Array.from({ length: 8 }, (_, z) => (hasZrwa(n, z) ? n.zrwaEndOf(z) : -1));
    ok(n.write(zs(1) + 2, 9)); // implicit flush of 4
    expect(n.wpOf(1)).toBe(zs(1) + 4);
    n.powerLoss(durableWp, durableZrwa);
    expect(n.stateOf(1)).toBe(C);
    expect(n.wpOf(1)).toBe(zs(1));
    expect(n.zrwaEndOf(1)).toBe(zs(1) + 2);
    expect(hasZrwa(n, 1)).toBe(true);
  });

  it('a zone filled by an unflushed implicit flush gets its ZRWA back', () => {
    const n = ns({ zoneCapacity: 8 * 512 });
    ok(n.manage('open', 1, { zrwa: true }));
    const durableWp = Array.from({ length: 8 }, (_, z) => n.wpOf(z));
    const durableZrwa = Array.from({ length: 8 }, (_, z) => (hasZrwa(n, z) ? n.zrwaEndOf(z) : -1));
    ok(n.write(zs(1), 8));
    ok(n.zrwaFlush(1, zs(1) + 7)); // explicit flushes are zone management: durable at once ...
    expect(n.stateOf(1)).toBe(F);
    n.powerLoss(durableWp, durableZrwa); // ... but this caller pretends it was not
    expect(n.stateOf(1)).toBe(C);
    expect(hasZrwa(n, 1)).toBe(true);
    expect(n.zrwaInUse).toBe(1);
  });
});

describe('loading ZRWA zones', () => {
  const rec = { flags: 0, resets: 0, finishes: 0, lbasWritten: 0 };

  it('restores the window and the resource count', () => {
    const n = ns();
    n.loadZone(1, { ...rec, state: C, wp: zs(1) + 4, attrs: ZoneAttr.ZRWAV, zrwaEnd: zs(1) + 9 });
    n.finishLoad();
    expect(n.zrwaInUse).toBe(1);
    expect(n.dataLbas(1)).toBe(9);
    ok(n.write(zs(1) + 4, 1));
  });

  it.each([
    ['a ZRWA on a Full zone', { state: F, wp: zs(1) + 48, attrs: ZoneAttr.ZRWAV }, 'attrs'],
    ['window data beyond the window', { state: C, wp: zs(1), attrs: ZoneAttr.ZRWAV, zrwaEnd: zs(1) + 9 }, 'zrwa'],
    ['window data below the write pointer', { state: C, wp: zs(1) + 4, attrs: ZoneAttr.ZRWAV, zrwaEnd: zs(1) }, 'zrwa'],
  ])('refuses %s', (_name, r, field) => {
    const n = ns();
    let err: unknown;
    try {
      n.loadZone(1, { ...rec, ...r });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ZoneLoadError);
    expect((err as ZoneLoadError).field).toBe(field);
  });

  it('refuses more ZRWA zones than resources, and ZRWAV without support', () => {
    const n = ns();
    for (const z of [1, 2, 3]) n.loadZone(z, { ...rec, state: C, wp: zs(z), attrs: ZoneAttr.ZRWAV });
    expect(() => n.finishLoad()).toThrow(/3 zones hold a ZRWA but the namespace has 2/);
    const plain = ns({ zrwas: 0, zrwafg: 0, numzrwa: 0 });
    expect(() => plain.loadZone(1, { ...rec, state: C, wp: zs(1), attrs: ZoneAttr.ZRWAV })).toThrow(/no ZRWA support/);
  });
});

describe('the change journal with ZRWA', () => {
  it('reverting restores the resource, the window and the write pointer', () => {
    const n = ns();
    ok(n.manage('open', 1, { zrwa: true }));
    ok(n.write(zs(1), 3));
    const before = snapshot(n);
    ok(n.write(zs(1) + 3, 10));
    n.revertLastOperation();
    expect(snapshot(n)).toEqual(before);
    ok(n.manage('reset', 1));
    n.revertLastOperation();
    expect(snapshot(n)).toEqual(before);
    ok(n.manage('open', 2, { zrwa: true }));
    n.revertLastOperation();
    expect(n.zrwaInUse).toBe(1);
    expect(hasZrwa(n, 2)).toBe(false);
  });
});
