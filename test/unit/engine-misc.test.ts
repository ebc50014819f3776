/**
 * Engine behaviour outside the single-zone transition table: statuses and errnos, select all,
 * reports, host-aware and conventional zones, reads, zone append limits, geometry validation,
 * the power-up transition, loading persisted zones and the change journal.
 */
import { describe, it, expect } from 'vitest';
import {
  ZonedNamespace,
  ZoneState,
  ZoneType,
  ZoneAttr,
  ZoneFlag,
  Status,
  ERRNO,
  errnoOf,
  hex,
  describeRejection,
  ZoneError,
  isRejection,
  resolveGeometry,
  GeometryError,
  ZoneLoadError,
  DEFAULT_GEOMETRY,
  GiB,
  MiB,
  type Geometry,
  type Rejection,
  type ReportFilter,
  type ReportOptions,
  type ZoneReport,
} from '../../src/engine/index.js';
import { E, IO, EO, C, F, RO, OFF, NOT_WP } from '../helpers/states.js';


/** 512 B LBAs, zones of 8 LBAs with capacity 6, `nz` zones. */
function small(nz: number, o: Partial<Geometry> = {}): Partial<Geometry> {
  return { lbaSize: 512, capacity: nz * 4096, zoneSize: 4096, zoneCapacity: 3072, convZones: 0, ...o };
}

function ok(r: Rejection | number | undefined): void {
  if (isRejection(r)) throw new Error(`unexpected rejection: ${r.status.name}: ${r.detail}`);
}

function rejected(r: Rejection | number | undefined | ZoneReport): Rejection {
  if (!isRejection(r)) throw new Error(`expected a rejection, got ${JSON.stringify(r)}`);
  return r;
}

function reportOf(ns: ZonedNamespace, opts?: ReportOptions): ZoneReport {
  const r = ns.report(opts);
  if (isRejection(r)) throw new Error(`report rejected: ${r.detail}`);
  return r;
}

function states(ns: ZonedNamespace): ZoneState[] {
  return reportOf(ns).zones.map((d) => d.state);
}

function snapshot(ns: ZonedNamespace) {
  return { report: reportOf(ns), counts: ns.counts(), oldest: ns.oldestImplicitlyOpen };
}

// -------------------------------------------------------------------------------------------------

describe('statuses and errno mapping', () => {
  const table: [keyof typeof Status, number, string, string, number][] = [
    ['INVALID_OPCODE', 0x001, 'Invalid Command Opcode', 'EOPNOTSUPP', 95],
    ['INVALID_FIELD', 0x002, 'Invalid Field in Command', 'EINVAL', 22],
    ['LBA_OUT_OF_RANGE', 0x080, 'LBA Out of Range', 'EIO', 5],
    ['INVALID_ZONE_OP', 0x1b6, 'Invalid Zone Operation Request', 'EIO', 5],
    ['ZRWA_UNAVAILABLE', 0x1b7, 'ZRWA Resources Unavailable', 'EIO', 5],
    ['ZONE_BOUNDARY_ERROR', 0x1b8, 'Zone Boundary Error', 'EIO', 5],
    ['ZONE_FULL', 0x1b9, 'Zone Is Full', 'EIO', 5],
    ['ZONE_READ_ONLY', 0x1ba, 'Zone Is Read Only', 'EIO', 5],
    ['ZONE_OFFLINE', 0x1bb, 'Zone Is Offline', 'EIO', 5],
    ['ZONE_INVALID_WRITE', 0x1bc, 'Zone Invalid Write', 'EIO', 5],
    ['TOO_MANY_ACTIVE', 0x1bd, 'Too Many Active Zones', 'EOVERFLOW', 75],
    ['TOO_MANY_OPEN', 0x1be, 'Too Many Open Zones', 'ETOOMANYREFS', 109],
    ['INVALID_TRANSITION', 0x1bf, 'Invalid Zone State Transition', 'EIO', 5],
    ['WRITE_FAULT', 0x280, 'Write Fault', 'EIO', 5],
    ['UNRECOVERED_READ_ERROR', 0x281, 'Unrecovered Read Error', 'EIO', 5],
  ];

  it('has exactly the expected statuses', () => {
    expect(Object.keys(Status).sort()).toEqual(table.map((r) => r[0]).sort());
  });

  it.each(table)('%s = %i (%s) → %s (%i)', (key, code, name, errno, n) => {
    const s = Status[key];
    expect(s.code).toBe(code);
    expect(s.name).toBe(name);
    expect(s.errno).toBe(errno);
    expect(ERRNO[s.errno]).toBe(n);
    const r: Rejection = { status: s, op: 'write', zone: 3, lba: 10, wp: 8, detail: 'because' };
    expect(errnoOf(r)).toBe(n);
    expect(describeRejection(r)).toBe(`${name} (${hex(code)}): because`);
    const err = new ZoneError(r);
    expect(err).toBeInstanceOf(Error);
    expect(err.name).toBe('ZoneError');
    expect(err.code).toBe(errno);
    expect(err.errno).toBe(errno);
    expect(err.status).toBe(s);
    expect(err.rejection).toBe(r);
    expect(err.message).toBe(describeRejection(r));
  });

  it('hex() pads to three digits', () => {
    expect(hex(0x2)).toBe('0x002');
    expect(hex(0x1bc)).toBe('0x1bc');
    expect(hex(0x280)).toBe('0x280');
  });

  it('real rejections carry the errno of PRODUCT.md §4', () => {
    const ns = new ZonedNamespace(small(6, { convZones: 1, maxOpen: 1, maxActive: 2, autoTransition: false }));
    ok(ns.write(8, 1)); // zone 1 → IO
    expect(errnoOf(rejected(ns.write(10, 1)))).toBe(ERRNO.EIO); // invalid write
    expect(errnoOf(rejected(ns.write(16, 1)))).toBe(ERRNO.ETOOMANYREFS); // open limit
    ok(ns.manage('close', 1));
    ok(ns.write(16, 1)); // zone 2 → IO; active 2
    expect(errnoOf(rejected(ns.write(24, 1)))).toBe(ERRNO.EOVERFLOW); // active limit
    expect(errnoOf(rejected(ns.manage('open', 0)))).toBe(ERRNO.EINVAL); // conventional
    expect(errnoOf(rejected(ns.manage('close', 3)))).toBe(ERRNO.EIO); // transition
    const r = rejected(ns.write(10, 1));
    expect(r).toMatchObject({ op: 'write', zone: 1, lba: 10, wp: 9 });
    expect(r.detail).toContain('10');
  });
});

// -------------------------------------------------------------------------------------------------

describe('select all', () => {
  /** 10 zones, zone 0 conventional; 2: Empty, 3: IO, 4: EO, 5: Closed, 6: Full, 7: RO, 8: Offline, 9: EO (empty). */
  function mixed(o: Partial<Geometry> = {}): ZonedNamespace {
    const ns = new ZonedNamespace(small(10, { convZones: 1, maxOpen: 4, maxActive: 6, descrExtSize: 64, ...o }));
    ok(ns.write(24, 2));
    ok(ns.write(32, 1));
    ok(ns.manage('open', 4));
    ok(ns.write(40, 3));
    ok(ns.manage('close', 5));
    ok(ns.write(48, 6));
    ok(ns.injectFault('readonly', 7));
    ok(ns.injectFault('offline', 8));
    ok(ns.manage('open', 9));
    expect(states(ns)).toEqual([NOT_WP, E, E, IO, EO, C, F, RO, OFF, EO]);
    return ns;
  }

  it('close all: open zones → Closed (an empty explicitly opened zone too)', () => {
    const ns = mixed();
    expect(ns.manage('close', 'all')).toBeUndefined();
    expect(states(ns)).toEqual([NOT_WP, E, E, C, C, C, F, RO, OFF, C]);
    expect(ns.lastChanges().sort((a, b) => a - b)).toEqual([3, 4, 9]);
    expect(ns.counts()).toMatchObject({ open: 0, active: 4 });
    expect(ns.oldestImplicitlyOpen).toBe(-1);
  });

  it('finish all: open and closed zones → Full; Empty zones are not finished', () => {
    const ns = mixed();
    expect(ns.manage('finish', 'all')).toBeUndefined();
    expect(states(ns)).toEqual([NOT_WP, E, E, F, F, F, F, RO, OFF, F]);
    expect(ns.lastChanges().sort((a, b) => a - b)).toEqual([3, 4, 5, 9]);
    expect(ns.counts()).toMatchObject({ open: 0, active: 0, full: 5 });
    expect(ns.wpOf(3)).toBe(26);
  });

  it('reset all: open, closed and full zones → Empty; Read Only and Offline stay', () => {
    const ns = mixed();
    expect(ns.manage('reset', 'all')).toBeUndefined();
    expect(states(ns)).toEqual([NOT_WP, E, E, E, E, E, E, RO, OFF, E]);
    expect(ns.lastChanges().sort((a, b) => a - b)).toEqual([3, 4, 5, 6, 9]);
    for (let z = 1; z < 7; z++) expect(ns.wpOf(z)).toBe(z * 8);
    expect(ns.counts()).toMatchObject({ open: 0, active: 0, empty: 7 });
  });

  it('offline all: Read Only → Offline only', () => {
    const ns = mixed();
    expect(ns.manage('offline', 'all')).toBeUndefined();
    expect(states(ns)).toEqual([NOT_WP, E, E, IO, EO, C, F, OFF, OFF, EO]);
    expect(ns.lastChanges()).toEqual([7]);
  });

  it('open all: Closed → Explicitly Opened', () => {
    const ns = mixed();
    ok(ns.manage('close', 'all'));
    expect(ns.manage('open', 'all')).toBeUndefined();
    expect(states(ns)).toEqual([NOT_WP, E, E, EO, EO, EO, F, RO, OFF, EO]);
    expect(ns.counts()).toMatchObject({ open: 4, active: 4 });
  });

  it('open all is all or nothing (resource arithmetic)', () => {
    const geo = small(10, { convZones: 1, maxOpen: 2, maxActive: 8 });
    for (const auto of [true, false]) {
      // Three Closed zones, one EO zone: 1 free open resource, no IO zone to close.
      const ns = new ZonedNamespace({ ...geo, autoTransition: auto });
      for (const z of [2, 3, 4]) { ok(ns.write(z * 8, 1)); ok(ns.manage('close', z)); }
      ok(ns.manage('open', 5));
      const before = snapshot(ns);
      const r = rejected(ns.manage('open', 'all'));
      expect(r.status).toBe(Status.TOO_MANY_OPEN);
      expect(r.zone).toBe(-1);
      expect(snapshot(ns)).toEqual(before);
    }
    // Two Closed zones, one IO zone: 1 free + 1 closable with auto-transition → success.
    const ns = new ZonedNamespace({ ...geo, autoTransition: true });
    for (const z of [2, 3]) { ok(ns.write(z * 8, 1)); ok(ns.manage('close', z)); }
    ok(ns.write(4 * 8, 1));
    expect(ns.manage('open', 'all')).toBeUndefined();
    expect(states(ns).slice(2, 5)).toEqual([EO, EO, C]);
    expect(ns.lastChanges().sort((a, b) => a - b)).toEqual([2, 3, 4]);
    expect(ns.counts()).toMatchObject({ open: 2, active: 3 });
    // Same without auto-transition: refused, nothing changes.
    const ns2 = new ZonedNamespace({ ...geo, autoTransition: false });
    for (const z of [2, 3]) { ok(ns2.write(z * 8, 1)); ok(ns2.manage('close', z)); }
    ok(ns2.write(4 * 8, 1));
    const before = snapshot(ns2);
    expect(rejected(ns2.manage('open', 'all')).status).toBe(Status.TOO_MANY_OPEN);
    expect(snapshot(ns2)).toEqual(before);
  });

  it('select all with nothing to do succeeds and changes nothing', () => {
    const ns = new ZonedNamespace(small(4, { convZones: 1 }));
    for (const cmd of ['open', 'close', 'finish', 'reset', 'offline'] as const) {
      expect(ns.manage(cmd, 'all')).toBeUndefined();
      expect(ns.lastChanges()).toEqual([]);
    }
    expect(states(ns)).toEqual([NOT_WP, E, E, E]);
  });

  it('Set Zone Descriptor Extension with select all → Invalid Field', () => {
    const ns = new ZonedNamespace(small(4, { descrExtSize: 64 }));
    expect(rejected(ns.setDescriptorExtension('all', new Uint8Array(1))).status).toBe(Status.INVALID_FIELD);
  });
});

// -------------------------------------------------------------------------------------------------

describe('report', () => {
  /**
   * 12 zones: 0,1 conventional; 2 Empty; 3 IO; 4 EO; 5 Closed; 6 Full (+FZR); 7 RO; 8 Offline;
   * 9 Empty (+RZR); 10 Closed by an extension; 11 Full (finished).
   */
  function layout(): ZonedNamespace {
    const ns = new ZonedNamespace(small(12, { convZones: 2, maxOpen: 3, maxActive: 5, descrExtSize: 64 }));
    ok(ns.write(24, 3));
    ok(ns.manage('open', 4));
    ok(ns.write(40, 2));
    ok(ns.manage('close', 5));
    ok(ns.write(48, 6));
    ok(ns.setRecommendation(6, ZoneAttr.FZR, true));
    ok(ns.injectFault('readonly', 7));
    ok(ns.injectFault('offline', 8));
    ok(ns.setRecommendation(9, ZoneAttr.RZR, true));
    ok(ns.setDescriptorExtension(10, new Uint8Array([5])));
    ok(ns.manage('finish', 11));
    return ns;
  }

  const expected: Record<ReportFilter, number[]> = {
    'all': [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11],
    'empty': [2, 9],
    'implicit-open': [3],
    'explicit-open': [4],
    'closed': [5, 10],
    'full': [6, 11],
    'read-only': [7],
    'offline': [8],
    'attributes': [6, 9],
    'not-wp': [0, 1],
  };

  it.each(Object.entries(expected))('filter %s', (filter, zones) => {
    const ns = layout();
    const r = reportOf(ns, { filter: filter as ReportFilter });
    expect(r.zones.map((d) => d.zone)).toEqual(zones);
    expect(r.nrZones).toBe(zones.length);
    const p = reportOf(ns, { filter: filter as ReportFilter, partial: true });
    expect(p.nrZones).toBe(zones.length);
  });

  it('descriptors carry type, state, start, size, capacity, write pointer, attributes and extension', () => {
    const ns = layout();
    const z = reportOf(ns).zones;
    expect(z[0]).toMatchObject({ zone: 0, type: ZoneType.CONVENTIONAL, state: NOT_WP, zslba: 0, zsze: 8, zcap: 8, attrs: 0 });
    expect(z[3]).toMatchObject({ zone: 3, type: ZoneType.SEQ_WRITE_REQUIRED, state: IO, zslba: 24, zsze: 8, zcap: 6, wp: 27, lbasWritten: 3, nonSeq: false });
    expect(z[6]).toMatchObject({ state: F, wp: 54, attrs: ZoneAttr.FZR });
    expect(z[10]).toMatchObject({ state: C, wp: 80, attrs: ZoneAttr.ZDEV });
    expect(Array.from(z[10]!.ext!.subarray(0, 2))).toEqual([5, 0]);
    expect(z[10]!.ext!.length).toBe(64);
    expect(z[11]).toMatchObject({ state: F, wp: 88, finishes: 1 });
    expect(z[2]!.ext).toBeUndefined();
    // The descriptor's extension is a copy.
    z[10]!.ext![0] = 99;
    expect(ns.extOf(10)![0]).toBe(5);
  });

  it('max without partial: nrZones counts every matching zone from the start zone', () => {
    const ns = layout();
    const r = reportOf(ns, { max: 3 });
    expect(r.zones.map((d) => d.zone)).toEqual([0, 1, 2]);
    expect(r.nrZones).toBe(12);
    const c = reportOf(ns, { filter: 'closed', max: 1 });
    expect(c.zones.map((d) => d.zone)).toEqual([5]);
    expect(c.nrZones).toBe(2);
    const none = reportOf(ns, { filter: 'full', max: 0 });
    expect(none.zones).toEqual([]);
    expect(none.nrZones).toBe(2);
  });

  it('partial: nrZones counts only the descriptors returned', () => {
    const ns = layout();
    const r = reportOf(ns, { max: 3, partial: true });
    expect(r.zones.map((d) => d.zone)).toEqual([0, 1, 2]);
    expect(r.nrZones).toBe(3);
    const c = reportOf(ns, { filter: 'empty', max: 1, partial: true });
    expect(c.zones.map((d) => d.zone)).toEqual([2]);
    expect(c.nrZones).toBe(1);
    expect(reportOf(ns, { filter: 'empty', max: 0, partial: true }).nrZones).toBe(0);
  });

  it('starts at the zone holding an unaligned LBA', () => {
    const ns = layout();
    const r = reportOf(ns, { slba: 5 * 8 + 3 });
    expect(r.zones[0]!.zone).toBe(5);
    expect(r.nrZones).toBe(7);
    const c = reportOf(ns, { slba: 5 * 8 + 7, filter: 'closed', max: 1 });
    expect(c.zones.map((d) => d.zone)).toEqual([5]);
    expect(c.nrZones).toBe(2);
    const d = reportOf(ns, { slba: 6 * 8 + 1, filter: 'closed' });
    expect(d.zones.map((x) => x.zone)).toEqual([10]);
    expect(d.nrZones).toBe(1);
    expect(reportOf(ns, { slba: 43, filter: 'closed' }).zones.map((d) => d.zone)).toEqual([5, 10]);
    expect(reportOf(ns, { slba: 43, filter: 'empty' }).zones.map((d) => d.zone)).toEqual([9]);
    expect(reportOf(ns, { slba: 43, filter: 'not-wp' }).nrZones).toBe(0);
    const last = reportOf(ns, { slba: ns.nlba - 1 });
    expect(last.zones.map((d) => d.zone)).toEqual([11]);
  });

  it('bad requests', () => {
    const ns = layout();
    expect(rejected(ns.report({ slba: ns.nlba })).status).toBe(Status.LBA_OUT_OF_RANGE);
    expect(rejected(ns.report({ slba: -1 })).status).toBe(Status.LBA_OUT_OF_RANGE);
    expect(rejected(ns.report({ filter: 'bogus' as ReportFilter })).status).toBe(Status.INVALID_FIELD);
    expect(rejected(ns.report({ max: -1 })).status).toBe(Status.INVALID_FIELD);
    const plain = new ZonedNamespace({ zoned: false, lbaSize: 512, capacity: 1 * MiB });
    expect(rejected(plain.report()).status).toBe(Status.INVALID_OPCODE);
  });

  it('a report changes nothing and does not touch the change journal', () => {
    const ns = layout();
    ok(ns.write(27, 1));
    const before = snapshot(ns);
    reportOf(ns, { filter: 'full' });
    expect(snapshot(ns)).toEqual(before);
    expect(ns.lastChanges()).toEqual([3]);
  });
});

// -------------------------------------------------------------------------------------------------

describe('host-aware (SWP) zones', () => {
  // 6 zones, zone 0 conventional; the limits are advisory only.
  const geo = small(6, { convZones: 1, zoneModel: 'host-aware', maxOpen: 1, maxActive: 1 });

  it('are SEQ_WRITE_PREFERRED', () => {
    const ns = new ZonedNamespace(geo);
    expect(ns.typeOf(0)).toBe(ZoneType.CONVENTIONAL);
    expect(ns.typeOf(1)).toBe(ZoneType.SEQ_WRITE_PREFERRED);
    expect(reportOf(ns).zones[3]!.type).toBe(ZoneType.SEQ_WRITE_PREFERRED);
  });

  it('take writes anywhere below the capacity; wp = highest written LBA + 1; non-seq flagged', () => {
    const ns = new ZonedNamespace(geo);
    expect(ns.write(8 + 3, 1)).toBeUndefined();
    expect(ns.stateOf(1)).toBe(IO);
    expect(ns.wpOf(1)).toBe(12);
    expect(ns.flagsOf(1) & ZoneFlag.NON_SEQ).toBe(ZoneFlag.NON_SEQ);
    expect(reportOf(ns).zones[1]!.nonSeq).toBe(true);
    expect(ns.write(8 + 1, 1)).toBeUndefined(); // below the wp
    expect(ns.wpOf(1)).toBe(12);
    expect(ns.lbasWrittenOf(1)).toBe(2);
    expect(ns.write(8 + 4, 2)).toBeUndefined(); // reaches the capacity
    expect(ns.stateOf(1)).toBe(F);
    expect(ns.wpOf(1)).toBe(14);
    expect(rejected(ns.write(8, 1)).status).toBe(Status.ZONE_FULL);
    // A zone written only at its wp is sequential.
    expect(ns.write(16, 2)).toBeUndefined();
    expect(ns.append(2, 1)).toBe(18);
    expect(reportOf(ns).zones[2]!.nonSeq).toBe(false);
    // Reset clears the flag.
    ok(ns.manage('reset', 1));
    expect(ns.flagsOf(1)).toBe(0);
    expect(ns.wpOf(1)).toBe(8);
    expect(ns.stateOf(1)).toBe(E);
  });

  it('refuse writes past the capacity or into the next zone', () => {
    const ns = new ZonedNamespace(geo);
    const before = snapshot(ns);
    expect(rejected(ns.write(8 + 5, 2)).status).toBe(Status.ZONE_BOUNDARY_ERROR);
    expect(rejected(ns.write(8 + 6, 1)).status).toBe(Status.ZONE_BOUNDARY_ERROR); // between capacity and zone size
    expect(rejected(ns.write(8 + 7, 2)).status).toBe(Status.ZONE_BOUNDARY_ERROR);
    expect(rejected(ns.append(1, 7)).status).toBe(Status.ZONE_BOUNDARY_ERROR);
    expect(snapshot(ns)).toEqual(before);
  });

  it('hold no resources: the open/active limits do not apply', () => {
    const ns = new ZonedNamespace(geo);
    for (let z = 1; z < 4; z++) ok(ns.write(z * 8 + 2, 1));
    ok(ns.manage('open', 4));
    ok(ns.manage('open', 5));
    expect(states(ns)).toEqual([NOT_WP, IO, IO, IO, EO, EO]);
    expect(ns.counts()).toMatchObject({ open: 0, active: 0, implicitOpen: 3, explicitOpen: 2 });
    expect(ns.oldestImplicitlyOpen).toBe(-1);
    ok(ns.manage('close', 'all'));
    ok(ns.manage('open', 'all'));
    expect(ns.counts()).toMatchObject({ open: 0, active: 0, explicitOpen: 5 });
  });

  it('follow the same state machine otherwise', () => {
    const ns = new ZonedNamespace(geo);
    ok(ns.write(10, 1));
    ok(ns.manage('close', 1));
    expect(ns.stateOf(1)).toBe(C);
    expect(rejected(ns.manage('offline', 1)).status).toBe(Status.INVALID_TRANSITION);
    ok(ns.injectFault('readonly', 1));
    expect(rejected(ns.write(8, 1)).status).toBe(Status.ZONE_READ_ONLY);
    expect(ns.powerCycleTransition()).toEqual([]);
  });
});

// -------------------------------------------------------------------------------------------------

describe('conventional zones', () => {
  // Zones 0 and 1 conventional, 2..5 sequential.
  const geo = small(6, { convZones: 2, maxOpen: 2, maxActive: 2, descrExtSize: 64 });

  it('take random writes anywhere and never change state', () => {
    const ns = new ZonedNamespace(geo);
    const before = snapshot(ns);
    expect(ns.write(3, 2)).toBeUndefined();
    expect(ns.write(0, 8)).toBeUndefined();
    expect(ns.write(1, 1)).toBeUndefined();
    expect(ns.write(6, 4)).toBeUndefined(); // crosses from conventional zone 0 into conventional zone 1
    expect(ns.write(8, 8)).toBeUndefined();
    expect(snapshot(ns)).toEqual(before);
    expect(ns.lastChanges()).toEqual([]);
    expect(ns.stateOf(0)).toBe(NOT_WP);
    expect(ns.dataLbas(0)).toBe(8);
    expect(ns.isConventional(1)).toBe(true);
    expect(ns.isConventional(2)).toBe(false);
  });

  it('a write crossing into the first sequential zone → Zone Boundary Error, nothing written', () => {
    const ns = new ZonedNamespace(geo);
    const before = snapshot(ns);
    const r = rejected(ns.write(14, 3));
    expect(r.status).toBe(Status.ZONE_BOUNDARY_ERROR);
    expect(r.zone).toBe(2);
    expect(rejected(ns.write(15, 2)).status).toBe(Status.ZONE_BOUNDARY_ERROR);
    expect(rejected(ns.write(0, 17)).status).toBe(Status.ZONE_BOUNDARY_ERROR);
    expect(snapshot(ns)).toEqual(before);
    expect(ns.write(15, 1)).toBeUndefined();
  });

  it('zone commands → Invalid Field (EINVAL); append → Invalid Zone Operation', () => {
    const ns = new ZonedNamespace(geo);
    const before = snapshot(ns);
    for (const z of [0, 1]) {
      for (const cmd of ['open', 'close', 'finish', 'reset', 'offline'] as const) {
        const r = rejected(ns.manage(cmd, z));
        expect(r.status).toBe(Status.INVALID_FIELD);
        expect(errnoOf(r)).toBe(22);
        expect(r.zone).toBe(z);
      }
      expect(rejected(ns.setDescriptorExtension(z, new Uint8Array(1))).status).toBe(Status.INVALID_FIELD);
      expect(rejected(ns.injectFault('readonly', z)).status).toBe(Status.INVALID_FIELD);
      expect(rejected(ns.injectFault('offline', z)).status).toBe(Status.INVALID_FIELD);
      expect(rejected(ns.clearFault(z)).status).toBe(Status.INVALID_FIELD);
      expect(rejected(ns.setRecommendation(z, ZoneAttr.RZR, true)).status).toBe(Status.INVALID_FIELD);
      const a = rejected(ns.append(z, 1));
      expect(a.status).toBe(Status.INVALID_ZONE_OP);
      expect(errnoOf(a)).toBe(5);
    }
    expect(snapshot(ns)).toEqual(before);
  });

  it('are not touched by select all and power-up', () => {
    const ns = new ZonedNamespace(geo);
    ok(ns.write(16, 2));
    const steps: [() => unknown, ZoneState][] = [
      [() => ns.manage('close', 'all'), C],
      [() => ns.manage('open', 'all'), EO],
      [() => ns.powerCycleTransition(), C],
      [() => ns.manage('finish', 'all'), F],
      [() => ns.manage('offline', 'all'), F],
      [() => ns.manage('reset', 'all'), E],
    ];
    for (const [step, state] of steps) {
      expect(isRejection(step())).toBe(false);
      expect(states(ns)).toEqual([NOT_WP, NOT_WP, state, E, E, E]);
      expect(ns.lastChanges().filter((z) => z < 2)).toEqual([]);
    }
    expect(ns.counts().conventional).toBe(2);
  });

  it('an all-conventional namespace has no sequential zones', () => {
    const ns = new ZonedNamespace(small(2, { convZones: 2 }));
    expect(ns.write(0, 16)).toBeUndefined();
    expect(reportOf(ns, { filter: 'not-wp' }).nrZones).toBe(2);
    expect(ns.manage('reset', 'all')).toBeUndefined();
  });
});

// -------------------------------------------------------------------------------------------------

describe('zoneAtStart (Zone Management SLBA)', () => {
  it('must be the first LBA of a zone', () => {
    const ns = new ZonedNamespace(small(4, { convZones: 1 }));
    expect(ns.zoneAtStart(0)).toBe(0);
    expect(ns.zoneAtStart(16)).toBe(2);
    expect(ns.zoneAtStart(24)).toBe(3);
    expect(rejected(ns.zoneAtStart(17)).status).toBe(Status.INVALID_FIELD);
    expect(rejected(ns.zoneAtStart(17)).zone).toBe(2);
    expect(rejected(ns.zoneAtStart(32)).status).toBe(Status.LBA_OUT_OF_RANGE);
    expect(rejected(ns.zoneAtStart(-8)).status).toBe(Status.LBA_OUT_OF_RANGE);
    const plain = new ZonedNamespace({ zoned: false, lbaSize: 512, capacity: 4096 });
    expect(rejected(plain.zoneAtStart(0)).status).toBe(Status.INVALID_OPCODE);
  });
});

// -------------------------------------------------------------------------------------------------

describe('non-zoned namespace', () => {
  it('is plain random access and refuses zone commands with Invalid Command Opcode', () => {
    const ns = new ZonedNamespace({ zoned: false, lbaSize: 512, capacity: 64 * 512 });
    expect(ns.zoned).toBe(false);
    expect(ns.nrZones).toBe(0);
    expect(ns.write(5, 10)).toBeUndefined();
    expect(ns.write(0, 64)).toBeUndefined();
    expect(rejected(ns.write(60, 5)).status).toBe(Status.LBA_OUT_OF_RANGE);
    expect(ns.checkRead(3, 40)).toBeUndefined();
    expect(rejected(ns.manage('open', 0)).status).toBe(Status.INVALID_OPCODE);
    expect(rejected(ns.manage('reset', 'all')).status).toBe(Status.INVALID_OPCODE);
    expect(rejected(ns.append(0, 1)).status).toBe(Status.INVALID_OPCODE);
    expect(rejected(ns.injectFault('offline', 0)).status).toBe(Status.INVALID_OPCODE);
    expect(errnoOf(rejected(ns.manage('open', 0)))).toBe(ERRNO.EOPNOTSUPP);
  });
});

// -------------------------------------------------------------------------------------------------

describe('reads', () => {
  const geo = small(6, { convZones: 1, crossRead: true });

  it('work in every state but Offline, up to the zone size (not only the capacity)', () => {
    const ns = new ZonedNamespace(geo);
    ok(ns.write(16, 2));
    ok(ns.injectFault('readonly', 3));
    ok(ns.write(32, 6));
    for (const [lba, n] of [[0, 8], [8, 8], [16, 8], [24, 8], [32, 8], [14, 1], [22, 2], [6, 20]]) {
      expect(ns.checkRead(lba!, n!), `read ${lba}+${n}`).toBeUndefined();
    }
  });

  it('of an Offline zone → Zone Is Offline (0x1bb), also when a cross-zone read touches it', () => {
    const ns = new ZonedNamespace(geo);
    ok(ns.write(16, 2));
    ok(ns.injectFault('offline', 2));
    const r = rejected(ns.checkRead(16, 1));
    expect(r.status.code).toBe(0x1bb);
    expect(r.zone).toBe(2);
    expect(errnoOf(r)).toBe(5);
    expect(rejected(ns.checkRead(23, 1)).status).toBe(Status.ZONE_OFFLINE);
    expect(rejected(ns.checkRead(12, 8)).status).toBe(Status.ZONE_OFFLINE);
    expect(rejected(ns.checkRead(20, 20)).status).toBe(Status.ZONE_OFFLINE);
    expect(ns.dataLbas(2)).toBe(0);
    expect(ns.checkRead(24, 8)).toBeUndefined();
  });

  it('across a zone boundary with cross-zone reads off → Zone Boundary Error (0x1b8)', () => {
    const ns = new ZonedNamespace({ ...geo, crossRead: false });
    const r = rejected(ns.checkRead(20, 8));
    expect(r.status.code).toBe(0x1b8);
    expect(r.zone).toBe(2);
    expect(rejected(ns.checkRead(7, 2)).status).toBe(Status.ZONE_BOUNDARY_ERROR); // conventional → sequential
    expect(rejected(ns.checkRead(0, 48)).status).toBe(Status.ZONE_BOUNDARY_ERROR);
    expect(ns.checkRead(16, 8)).toBeUndefined();
    expect(ns.checkRead(23, 1)).toBeUndefined();
    expect(ns.checkRead(40, 8)).toBeUndefined();
  });

  it('range checks', () => {
    const ns = new ZonedNamespace(geo);
    expect(rejected(ns.checkRead(48, 1)).status).toBe(Status.LBA_OUT_OF_RANGE);
    expect(rejected(ns.checkRead(40, 9)).status).toBe(Status.LBA_OUT_OF_RANGE);
    expect(rejected(ns.checkRead(-1, 1)).status).toBe(Status.LBA_OUT_OF_RANGE);
    expect(rejected(ns.checkRead(0, 0)).status).toBe(Status.INVALID_FIELD);
  });

  it('dataLbas: up to the write pointer in a sequential zone', () => {
    const ns = new ZonedNamespace(geo);
    expect(ns.dataLbas(1)).toBe(0);
    ok(ns.write(8, 3));
    expect(ns.dataLbas(1)).toBe(3);
    ok(ns.manage('finish', 1));
    expect(ns.dataLbas(1)).toBe(3);
    ok(ns.manage('reset', 1));
    expect(ns.dataLbas(1)).toBe(0);
    expect(ns.dataLbas(0)).toBe(8);
  });
});

// -------------------------------------------------------------------------------------------------

describe('zone append size limit', () => {
  it('an append longer than ZASL → Invalid Field; writes are not limited', () => {
    const ns = new ZonedNamespace(small(4, { zasl: 1024 }));
    expect(ns.zaslLbas).toBe(2);
    expect(ns.append(1, 2)).toBe(8);
    const before = snapshot(ns);
    const r = rejected(ns.append(1, 3));
    expect(r.status).toBe(Status.INVALID_FIELD);
    expect(errnoOf(r)).toBe(22);
    expect(snapshot(ns)).toEqual(before);
    expect(ns.write(10, 3)).toBeUndefined();
    expect(ns.append(1, 1)).toBe(13);
    // The limit is checked before the zone state.
    expect(rejected(ns.append(1, 3)).status).toBe(Status.INVALID_FIELD);
    expect(rejected(ns.append(1, 2)).status).toBe(Status.ZONE_FULL);
  });

  it('0 means no limit', () => {
    const ns = new ZonedNamespace(small(4, { zasl: 0 }));
    expect(ns.zaslLbas).toBe(0);
    expect(ns.append(1, 6)).toBe(8);
  });
});

// -------------------------------------------------------------------------------------------------

describe('geometry', () => {
  it('defaults follow PRODUCT.md §2', () => {
    const g = resolveGeometry();
    expect(g).toEqual(DEFAULT_GEOMETRY);
    expect(g).toMatchObject({
      capacity: 4 * GiB, lbaSize: 4096, zoneSize: 64 * MiB, zoneCapacity: 64 * MiB, convZones: 2,
      maxOpen: 14, maxActive: 14, crossRead: true, zoned: true, zoneModel: 'host-managed',
      autoTransition: true, zasl: 0, descrExtSize: 0,
    });
    const ns = new ZonedNamespace();
    expect(ns.nrZones).toBe(64);
    expect(ns.zoneLbas).toBe(16384);
    expect(ns.capLbas).toBe(16384);
    expect(ns.nlba).toBe(1048576);
  });

  it('derived values', () => {
    expect(resolveGeometry({ zoneSize: 32 * MiB }).zoneCapacity).toBe(32 * MiB);
    expect(resolveGeometry({ zoneSize: 32 * MiB, zoneCapacity: 16 * MiB }).zoneCapacity).toBe(16 * MiB);
    expect(resolveGeometry({ maxActive: 5 })).toMatchObject({ maxOpen: 5, maxActive: 5 });
    expect(resolveGeometry({ maxActive: 20 })).toMatchObject({ maxOpen: 14, maxActive: 20 });
    expect(resolveGeometry({ maxOpen: 20 })).toMatchObject({ maxOpen: 20, maxActive: 20 });
    expect(resolveGeometry({ maxOpen: 3 })).toMatchObject({ maxOpen: 3, maxActive: 14 });
    expect(resolveGeometry({ maxOpen: 0 })).toMatchObject({ maxOpen: 0, maxActive: 0 });
    expect(resolveGeometry({ maxOpen: 2, maxActive: 0 })).toMatchObject({ maxOpen: 2, maxActive: 0 });
    expect(resolveGeometry({ zoned: false })).toMatchObject({ zoneSize: 0, zoneCapacity: 0, convZones: 0, maxOpen: 0, maxActive: 0 });
    expect(resolveGeometry({ descrExtSize: 16320 }).descrExtSize).toBe(16320);
  });

  const bad: [string, Partial<Geometry>, keyof Geometry][] = [
    ['zone capacity > zone size', { zoneSize: 32 * MiB, zoneCapacity: 33 * MiB }, 'zoneCapacity'],
    ['max open > max active', { maxOpen: 5, maxActive: 3 }, 'maxOpen'],
    ['max open unlimited with a max active', { maxOpen: 0, maxActive: 3 }, 'maxOpen'],
    ['zone size not a multiple of the LBA size', { lbaSize: 4096, zoneSize: 6144, capacity: 6144 * 4 }, 'zoneSize'],
    ['capacity not a multiple of the LBA size', { lbaSize: 4096, capacity: 64 * MiB + 512, zoneSize: 64 * MiB + 512 }, 'capacity'],
    ['zone capacity not a multiple of the LBA size', { zoneCapacity: 64 * MiB - 512 }, 'zoneCapacity'],
    ['zasl not a multiple of the LBA size', { zasl: 1000 }, 'zasl'],
    ['LBA size not a power of two', { lbaSize: 1000 }, 'lbaSize'],
    ['LBA size below 512', { lbaSize: 256 }, 'lbaSize'],
    ['LBA size above 65536', { lbaSize: 131072 }, 'lbaSize'],
    ['LBA size 0', { lbaSize: 0 }, 'lbaSize'],
    ['capacity not a multiple of the zone size', { capacity: 100 * MiB, zoneSize: 64 * MiB }, 'capacity'],
    ['capacity 0', { capacity: 0 }, 'capacity'],
    ['zone size 0', { zoneSize: 0 }, 'zoneSize'],
    ['descriptor extension not a multiple of 64', { descrExtSize: 100 }, 'descrExtSize'],
    ['descriptor extension too large', { descrExtSize: 16384 }, 'descrExtSize'],
    ['more conventional zones than zones', { convZones: 65 }, 'convZones'],
    ['negative max open', { maxOpen: -1, maxActive: 0 }, 'maxOpen'],
    ['fractional max active', { maxOpen: 1, maxActive: 1.5 }, 'maxActive'],
    ['bad zone model', { zoneModel: 'zoned' as never }, 'zoneModel'],
    ['crossRead not boolean', { crossRead: 'yes' as never }, 'crossRead'],
  ];

  it.each(bad)('%s → GeometryError naming %s', (_what, g, field) => {
    let err: unknown;
    try {
      resolveGeometry(g);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(GeometryError);
    const ge = err as GeometryError;
    expect(ge.field).toBe(field);
    expect(ge.name).toBe('GeometryError');
    expect(ge.message.length).toBeGreaterThan(10);
    expect(() => new ZonedNamespace(g)).toThrow(GeometryError);
  });

  it('messages say what is wrong', () => {
    expect(() => resolveGeometry({ zoneSize: 32 * MiB, zoneCapacity: 33 * MiB })).toThrow(/zone capacity .* exceeds the zone size/);
    expect(() => resolveGeometry({ maxOpen: 5, maxActive: 3 })).toThrow(/max open zones \(5\) exceeds max active zones \(3\)/);
    expect(() => resolveGeometry({ descrExtSize: 100 })).toThrow(/multiple of 64/);
    expect(() => resolveGeometry({ lbaSize: 1000 })).toThrow(/power of two/);
  });
});

// -------------------------------------------------------------------------------------------------

describe('power-up transition (PRODUCT.md §6, ZNS §2.1.1.3)', () => {
  /**
   * 12 zones, zone 0 conventional. 1 IO (written), 2 EO (written), 3 EO (empty), 4 Closed by an
   * extension, 5 Closed (written), 6 Closed (empty: opened then closed), 7 Full, 8 RO, 9 Offline,
   * 10 EO with an extension, 11 Empty.
   */
  function build(): ZonedNamespace {
    const ns = new ZonedNamespace(small(12, { convZones: 1, maxOpen: 5, maxActive: 8, descrExtSize: 64 }));
    ok(ns.write(8, 2));
    ok(ns.write(16, 1));
    ok(ns.manage('open', 2));
    ok(ns.manage('open', 3));
    ok(ns.setDescriptorExtension(4, new Uint8Array([4])));
    ok(ns.write(40, 3));
    ok(ns.manage('close', 5));
    ok(ns.manage('open', 6));
    ok(ns.manage('close', 6));
    ok(ns.write(56, 6));
    ok(ns.injectFault('readonly', 8));
    ok(ns.injectFault('offline', 9));
    ok(ns.setDescriptorExtension(10, new Uint8Array([10])));
    ok(ns.manage('open', 10));
    expect(states(ns)).toEqual([NOT_WP, IO, EO, EO, C, C, C, F, RO, OFF, EO, E]);
    return ns;
  }

  it('open zones → Closed, or Empty when nothing was written and no extension is set; Full/Closed/RO/Offline stay', () => {
    const ns = build();
    const wps = reportOf(ns).zones.map((d) => d.wp);
    const changed = ns.powerCycleTransition();
    // The product contract keeps Closed zones Closed, even an empty one (zone 6), where the
    // spec's initial-state rule would make it Empty.
    expect(states(ns)).toEqual([NOT_WP, C, C, E, C, C, C, F, RO, OFF, C, E]);
    expect(changed).toEqual([1, 2, 3, 10]);
    expect(ns.lastChanges()).toEqual(changed);
    expect(reportOf(ns).zones.map((d) => d.wp)).toEqual(wps);
    expect(ns.counts()).toMatchObject({ open: 0, active: 6, closed: 6, empty: 2, full: 1, readOnly: 1, offline: 1 });
    expect(ns.oldestImplicitlyOpen).toBe(-1);
    expect(ns.extOf(4)![0]).toBe(4);
    expect(ns.extOf(10)![0]).toBe(10);
    // Idempotent.
    expect(ns.powerCycleTransition()).toEqual([]);
  });

  it('can be reverted, restoring the implicit-open order', () => {
    const ns = new ZonedNamespace(small(8, { convZones: 1, maxOpen: 3, maxActive: 5 }));
    ok(ns.write(24, 1));
    ok(ns.write(8, 1));
    ok(ns.write(40, 1));
    const before = snapshot(ns);
    ns.powerCycleTransition();
    expect(ns.counts().open).toBe(0);
    ns.revertLastOperation();
    expect(snapshot(ns)).toEqual(before);
    // The FIFO is 3, 1, 5: the next implicit close takes 3, then 1.
    ok(ns.manage('open', 2));
    expect(ns.stateOf(3)).toBe(C);
    ok(ns.manage('open', 4));
    expect(ns.stateOf(1)).toBe(C);
    expect(ns.stateOf(5)).toBe(IO);
  });
});

// -------------------------------------------------------------------------------------------------

describe('loadZone / finishLoad', () => {
  // 6 zones of 8 LBAs (capacity 6), zone 0 conventional, 2 open / 3 active, 64 B extensions.
  const geo = small(6, { convZones: 1, maxOpen: 2, maxActive: 3, descrExtSize: 64 });
  const rec = (state: number, wp: number, o: Partial<{ attrs: number; flags: number; resets: number; finishes: number; lbasWritten: number; ext: Uint8Array }> = {}) => ({
    state, wp, attrs: 0, flags: 0, resets: 0, finishes: 0, lbasWritten: 0, ...o,
  });

  it('restores zones, counts and the implicit-open queue', () => {
    const ns = new ZonedNamespace(geo);
    ns.loadZone(0, rec(NOT_WP, 12345));
    ns.loadZone(1, rec(IO, 10, { lbasWritten: 2, resets: 4, finishes: 1 }));
    ns.loadZone(2, rec(C, 19, { attrs: ZoneAttr.ZDEV, ext: new Uint8Array(64).fill(3) }));
    ns.loadZone(3, rec(F, 30));
    ns.loadZone(4, rec(EO, 32));
    ns.finishLoad();
    expect(states(ns)).toEqual([NOT_WP, IO, C, F, EO, E]);
    expect(ns.wpOf(0)).toBe(0);
    expect(ns.wpOf(1)).toBe(10);
    expect(ns.resetsOf(1)).toBe(4);
    expect(ns.finishesOf(1)).toBe(1);
    expect(ns.lbasWrittenOf(1)).toBe(2);
    expect(ns.extOf(2)![0]).toBe(3);
    expect(ns.counts()).toMatchObject({ open: 2, active: 3, implicitOpen: 1, explicitOpen: 1, closed: 1, full: 1, empty: 1, conventional: 1 });
    expect(ns.oldestImplicitlyOpen).toBe(1);
    expect(ns.lastChanges()).toEqual([]);
    // The limits hold after loading.
    expect(rejected(ns.write(40, 1)).status).toBe(Status.TOO_MANY_ACTIVE);
    ok(ns.write(19, 1)); // Closed 2 → IO, closing IO zone 1
    expect(ns.stateOf(1)).toBe(C);
    expect(ns.stateOf(2)).toBe(IO);
  });

  it('loading the same zone twice keeps the per-state counts right', () => {
    const ns = new ZonedNamespace(geo);
    ns.loadZone(1, rec(C, 10));
    ns.loadZone(1, rec(F, 10));
    ns.finishLoad();
    expect(ns.counts()).toMatchObject({ empty: 4, closed: 0, full: 1, active: 0 });
  });

  const impossible: [string, number, ReturnType<typeof rec>, string][] = [
    ['zone index past the end', 6, rec(E, 48), 'index'],
    ['negative zone index', -1, rec(E, 0), 'index'],
    ['reserved state 0x5', 1, rec(5, 8), 'state'],
    ['state 0x7', 1, rec(7, 8), 'state'],
    ['NOT_WP for a sequential zone', 1, rec(NOT_WP, 8), 'state'],
    ['Empty for a conventional zone', 0, rec(E, 0), 'state'],
    ['write pointer before the zone', 2, rec(C, 15), 'wp'],
    ['write pointer past the capacity', 2, rec(F, 23), 'wp'],
    ['fractional write pointer', 2, rec(C, 17.5), 'wp'],
    ['Empty with the write pointer moved', 2, rec(E, 17), 'wp'],
    ['Implicitly Opened at the capacity', 2, rec(IO, 22), 'wp'],
    ['Explicitly Opened at the capacity', 2, rec(EO, 22), 'wp'],
    ['Closed at the capacity', 2, rec(C, 22), 'wp'],
    ['ZDEV without extension data', 2, rec(C, 16, { attrs: ZoneAttr.ZDEV }), 'attrs'],
    // The extension association ends when a zone becomes Empty or Offline; conventional zones have none.
    ['ZDEV on an Empty zone', 2, rec(E, 16, { attrs: ZoneAttr.ZDEV, ext: new Uint8Array(64) }), 'attrs'],
    ['ZDEV on an Offline zone', 2, rec(OFF, 18, { attrs: ZoneAttr.ZDEV, ext: new Uint8Array(64) }), 'attrs'],
    ['ZDEV on a conventional zone', 0, rec(NOT_WP, 0, { attrs: ZoneAttr.ZDEV, ext: new Uint8Array(64) }), 'attrs'],
    ['extension data of the wrong size', 2, rec(C, 16, { attrs: ZoneAttr.ZDEV, ext: new Uint8Array(3) }), 'ext'],
  ];

  it.each(impossible)('%s → ZoneLoadError (%s)', (_what, z, r, field) => {
    const ns = new ZonedNamespace(geo);
    let err: unknown;
    try {
      ns.loadZone(z, r);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ZoneLoadError);
    expect((err as ZoneLoadError).field).toBe(field);
    expect((err as ZoneLoadError).zone).toBe(z);
    expect((err as ZoneLoadError).name).toBe('ZoneLoadError');
    expect((err as ZoneLoadError).message).toMatch(z >= 0 ? new RegExp(`^zone ${z}: `) : /no such zone/);
  });

  it('ZDEV on a namespace without descriptor extensions → ZoneLoadError', () => {
    const ns = new ZonedNamespace({ ...geo, descrExtSize: 0 });
    expect(() => ns.loadZone(2, rec(C, 16, { attrs: ZoneAttr.ZDEV, ext: new Uint8Array(64) }))).toThrow(ZoneLoadError);
    expect(() => ns.loadZone(2, rec(C, 16, { attrs: ZoneAttr.ZDEV, ext: new Uint8Array(0) }))).toThrow(ZoneLoadError);
  });

  it('extension data without ZDEV is ignored; ZDEV stays valid on Read Only and Full zones', () => {
    const ns = new ZonedNamespace(geo);
    ns.loadZone(1, rec(C, 9, { ext: new Uint8Array(64).fill(1) }));
    ns.loadZone(2, rec(RO, 18, { attrs: ZoneAttr.ZDEV, ext: new Uint8Array(64).fill(2) }));
    ns.loadZone(3, rec(F, 24, { attrs: ZoneAttr.ZDEV | ZoneAttr.RZR, ext: new Uint8Array(64).fill(3) }));
    ns.finishLoad();
    expect(ns.extOf(1)).toBeUndefined();
    expect(ns.extOf(2)![0]).toBe(2);
    expect(ns.extOf(3)![0]).toBe(3);
    expect(reportOf(ns, { filter: 'attributes' }).zones.map((d) => d.zone)).toEqual([3]);
  });

  it('finishLoad refuses more active zones than the limit, and tolerates (and reports) extra open zones', () => {
    const a = new ZonedNamespace(geo);
    for (const z of [1, 2, 3, 4]) a.loadZone(z, rec(C, z * 8 + 1));
    expect(() => a.finishLoad()).toThrow(ZoneLoadError);
    try { a.finishLoad(); } catch (e) { expect((e as ZoneLoadError).field).toBe('active'); }

    // One open zone too many is what a crash between the two record writes of an implicit close
    // can leave; the power-up transition closes them all.
    const o = new ZonedNamespace(geo);
    for (const z of [1, 2, 3]) o.loadZone(z, rec(EO, z * 8 + 1));
    expect(() => o.finishLoad()).not.toThrow();
    expect(o.openExcess).toBe(1);
    o.powerCycleTransition();
    expect(o.openExcess).toBe(0);
    expect(o.counts().open).toBe(0);

    const fine = new ZonedNamespace(geo);
    for (const z of [1, 2, 3, 4, 5]) fine.loadZone(z, rec(F, z * 8 + 6));
    expect(() => fine.finishLoad()).not.toThrow();
  });

  it('host-aware zones are not counted against the limits', () => {
    const ns = new ZonedNamespace({ ...geo, zoneModel: 'host-aware' });
    for (const z of [1, 2, 3, 4]) ns.loadZone(z, rec(IO, z * 8 + 1));
    expect(() => ns.finishLoad()).not.toThrow();
    expect(ns.counts()).toMatchObject({ open: 0, active: 0, implicitOpen: 4 });
  });
});

// -------------------------------------------------------------------------------------------------

describe('lastChanges / revertLastOperation', () => {
  const geo = small(8, { convZones: 1, maxOpen: 2, maxActive: 6, descrExtSize: 64 });

  it('lists the zones the last successful operation changed, in the order changed', () => {
    const ns = new ZonedNamespace(geo);
    ok(ns.write(8, 1));
    expect(ns.lastChanges()).toEqual([1]);
    ok(ns.write(9, 1));
    expect(ns.lastChanges()).toEqual([1]);
    ok(ns.write(16, 1));
    ok(ns.write(24, 1)); // closes 1 implicitly
    // The zone closed to make room comes first, so a store persists it first.
    expect(ns.lastChanges()).toEqual([1, 3]);
    ok(ns.manage('open', 2)); // IO → EO
    expect(ns.lastChanges()).toEqual([2]);
    ok(ns.manage('open', 2)); // nop
    expect(ns.lastChanges()).toEqual([]);
    ok(ns.manage('reset', 'all'));
    expect(ns.lastChanges()).toEqual([1, 2, 3]);
    ok(ns.manage('reset', 1)); // Empty: nop
    expect(ns.lastChanges()).toEqual([]);
    ok(ns.injectFault('offline', 4));
    expect(ns.lastChanges()).toEqual([4]);
    ok(ns.injectFault('offline', 4)); // already offline
    expect(ns.lastChanges()).toEqual([]);
    ok(ns.write(3, 2)); // conventional
    expect(ns.lastChanges()).toEqual([]);
  });

  it('revert undoes every kind of operation exactly', () => {
    const steps: [string, (ns: ZonedNamespace) => unknown][] = [
      ['write', (ns) => ns.write(ns.wpOf(5), 1)],
      ['write that fills', (ns) => ns.write(ns.wpOf(2), 22 - ns.wpOf(2))],
      ['append', (ns) => ns.append(6, 2)],
      ['open', (ns) => ns.manage('open', 6)],
      ['close', (ns) => ns.manage('close', 3)],
      ['finish', (ns) => ns.manage('finish', 3)],
      ['reset', (ns) => ns.manage('reset', 4)],
      ['reset all', (ns) => ns.manage('reset', 'all')],
      ['finish all', (ns) => ns.manage('finish', 'all')],
      ['close all', (ns) => ns.manage('close', 'all')],
      ['set extension', (ns) => ns.setDescriptorExtension(7, new Uint8Array([1]))],
      ['inject readonly', (ns) => ns.injectFault('readonly', 3)],
      ['inject offline', (ns) => ns.injectFault('offline', 4)],
      ['power cycle', (ns) => ns.powerCycleTransition()],
      ['recommendation', (ns) => ns.setRecommendation(2, ZoneAttr.RZR, true)],
    ];
    for (const [name, step] of steps) {
      const ns = new ZonedNamespace(geo);
      ok(ns.write(16, 2)); // 2: IO
      ok(ns.write(24, 1)); // 3: IO
      ok(ns.manage('close', 2)); // 2: Closed
      ok(ns.setDescriptorExtension(4, new Uint8Array([4]))); // 4: Closed + ext
      ok(ns.write(8, 1)); // 1: IO (queue 3, 1)
      const before = snapshot(ns);
      const r = step(ns);
      expect(isRejection(r), name).toBe(false);
      expect(snapshot(ns), name).not.toEqual(before);
      ns.revertLastOperation();
      expect(snapshot(ns), name).toEqual(before);
      expect(ns.lastChanges(), name).toEqual([]);
      // The queue order survived: the next implicit close takes 3.
      ok(ns.write(40, 1));
      expect(ns.stateOf(3), name).toBe(C);
      expect(ns.stateOf(1), name).toBe(IO);
    }
  });

  it('clearFault brings a Read Only or Offline zone back Empty', () => {
    const ns = new ZonedNamespace(geo);
    ok(ns.write(16, 3));
    ok(ns.injectFault('offline', 2));
    expect(ns.clearFault(2)).toBeUndefined();
    expect(ns.stateOf(2)).toBe(E);
    expect(ns.wpOf(2)).toBe(16);
    expect(rejected(ns.clearFault(2)).status).toBe(Status.INVALID_TRANSITION);
  });
});
