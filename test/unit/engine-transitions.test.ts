/**
 * Table-driven tests of the single-zone state machine: every (state × operation) cell of
 * reference/zns-semantics.md §3.2, with the spec's resource accounting (§4). Where QEMU and the
 * spec differ, the expected values here are the spec's (PRODUCT.md §4).
 */
import { describe, it, expect } from 'vitest';
import {
  ZonedNamespace,
  ZoneState,
  ZoneAttr,
  Status,
  isRejection,
  type NvmeStatus,
  type Rejection,
  type Geometry,
  type ZoneReport,
  type ZoneCounts,
} from '../../src/engine/index.js';
import { E, IO, EO, C, F, RO, OFF } from '../helpers/states.js';


const OK = undefined;
const TRANS = Status.INVALID_TRANSITION;

/**
 * 512-byte LBAs, 8 zones of 8 LBAs with a capacity of 6 LBAs, zone 0 conventional,
 * 2 open / 3 active, 64-byte descriptor extensions.
 */
const GEO: Partial<Geometry> = {
  lbaSize: 512,
  capacity: 8 * 4096,
  zoneSize: 4096,
  zoneCapacity: 3072,
  convZones: 1,
  maxOpen: 2,
  maxActive: 3,
  descrExtSize: 64,
};

/** The zone under test: LBAs 16..23, writable 16..21. */
const Z = 2;
const ZSLBA = 16;
const ZCAP_END = 22;

type Op = 'write' | 'append' | 'open' | 'close' | 'finish' | 'reset' | 'offline' | 'setExt';
const OPS: readonly Op[] = ['write', 'append', 'open', 'close', 'finish', 'reset', 'offline', 'setExt'];

type Setup =
  | 'Empty'
  | 'Implicitly Opened'
  | 'Explicitly Opened'
  | 'Explicitly Opened (empty)'
  | 'Closed'
  | 'Closed (extension)'
  | 'Full'
  | 'Full (finished)'
  | 'Read Only'
  | 'Offline';

function ok(r: Rejection | number | undefined): void {
  if (isRejection(r)) throw new Error(`unexpected rejection: ${r.status.name}: ${r.detail}`);
}

function reportOf(ns: ZonedNamespace): ZoneReport {
  const r = ns.report();
  if (isRejection(r)) throw new Error(`report rejected: ${r.detail}`);
  return r;
}

/** Everything observable about the namespace. */
function snapshot(ns: ZonedNamespace) {
  return { report: reportOf(ns), counts: ns.counts(), oldest: ns.oldestImplicitlyOpen };
}

/** Bring zone Z into the named state on a fresh namespace. */
function build(setup: Setup, geo: Partial<Geometry> = GEO): ZonedNamespace {
  const ns = new ZonedNamespace(geo);
  switch (setup) {
    case 'Empty':
      break;
    case 'Implicitly Opened':
      ok(ns.write(ZSLBA, 2));
      break;
    case 'Explicitly Opened':
      ok(ns.write(ZSLBA, 2));
      ok(ns.manage('open', Z));
      break;
    case 'Explicitly Opened (empty)':
      ok(ns.manage('open', Z));
      break;
    case 'Closed':
      ok(ns.write(ZSLBA, 2));
      ok(ns.manage('close', Z));
      break;
    case 'Closed (extension)':
      ok(ns.setDescriptorExtension(Z, new Uint8Array([0xab])));
      break;
    case 'Full':
      ok(ns.write(ZSLBA, 6));
      break;
    case 'Full (finished)':
      ok(ns.write(ZSLBA, 2));
      ok(ns.manage('finish', Z));
      break;
    case 'Read Only':
      ok(ns.write(ZSLBA, 2));
      ok(ns.injectFault('readonly', Z));
      break;
    case 'Offline':
      ok(ns.write(ZSLBA, 2));
      ok(ns.injectFault('offline', Z));
      break;
  }
  return ns;
}

/** Run one operation on zone Z; undefined = success, else the status. */
function run(ns: ZonedNamespace, op: Op, z = Z): { status: NvmeStatus | undefined; rejection?: Rejection; alba?: number } {
  let r: Rejection | number | undefined;
  switch (op) {
    case 'write': r = ns.write(ns.wpOf(z), 1); break;
    case 'append': r = ns.append(z, 1); break;
    case 'setExt': r = ns.setDescriptorExtension(z, new Uint8Array([1, 2, 3])); break;
    default: r = ns.manage(op, z);
  }
  if (isRejection(r)) return { status: r.status, rejection: r };
  return { status: undefined, ...(typeof r === 'number' ? { alba: r } : {}) };
}

/** Initial (state, wp, open, active) of each setup. */
const INITIAL: Record<Setup, [ZoneState, number, number, number]> = {
  'Empty': [E, 16, 0, 0],
  'Implicitly Opened': [IO, 18, 1, 1],
  'Explicitly Opened': [EO, 18, 1, 1],
  'Explicitly Opened (empty)': [EO, 16, 1, 1],
  'Closed': [C, 18, 0, 1],
  'Closed (extension)': [C, 16, 0, 1],
  'Full': [F, 22, 0, 0],
  'Full (finished)': [F, 18, 0, 0],
  'Read Only': [RO, 18, 0, 0],
  'Offline': [OFF, 18, 0, 0],
};

type Row = [Setup, Op, NvmeStatus | undefined, ZoneState, number, number, number];

/** [from, op, result, new state, new wp, open, active] */
const TABLE: Row[] = [
  ['Empty', 'write', OK, IO, 17, 1, 1],
  ['Empty', 'append', OK, IO, 17, 1, 1],
  ['Empty', 'open', OK, EO, 16, 1, 1],
  ['Empty', 'close', TRANS, E, 16, 0, 0],
  ['Empty', 'finish', OK, F, 16, 0, 0],
  ['Empty', 'reset', OK, E, 16, 0, 0],
  ['Empty', 'offline', TRANS, E, 16, 0, 0],
  ['Empty', 'setExt', OK, C, 16, 0, 1],

  ['Implicitly Opened', 'write', OK, IO, 19, 1, 1],
  ['Implicitly Opened', 'append', OK, IO, 19, 1, 1],
  ['Implicitly Opened', 'open', OK, EO, 18, 1, 1],
  ['Implicitly Opened', 'close', OK, C, 18, 0, 1],
  ['Implicitly Opened', 'finish', OK, F, 18, 0, 0],
  ['Implicitly Opened', 'reset', OK, E, 16, 0, 0],
  ['Implicitly Opened', 'offline', TRANS, IO, 18, 1, 1],
  ['Implicitly Opened', 'setExt', TRANS, IO, 18, 1, 1],

  ['Explicitly Opened', 'write', OK, EO, 19, 1, 1],
  ['Explicitly Opened', 'append', OK, EO, 19, 1, 1],
  ['Explicitly Opened', 'open', OK, EO, 18, 1, 1],
  ['Explicitly Opened', 'close', OK, C, 18, 0, 1],
  ['Explicitly Opened', 'finish', OK, F, 18, 0, 0],
  ['Explicitly Opened', 'reset', OK, E, 16, 0, 0],
  ['Explicitly Opened', 'offline', TRANS, EO, 18, 1, 1],
  ['Explicitly Opened', 'setExt', TRANS, EO, 18, 1, 1],

  ['Explicitly Opened (empty)', 'write', OK, EO, 17, 1, 1],
  ['Explicitly Opened (empty)', 'append', OK, EO, 17, 1, 1],
  ['Explicitly Opened (empty)', 'open', OK, EO, 16, 1, 1],
  // Spec: Close of an open zone gives Closed even with WP = ZSLBA (null_blk would give Empty).
  ['Explicitly Opened (empty)', 'close', OK, C, 16, 0, 1],
  ['Explicitly Opened (empty)', 'finish', OK, F, 16, 0, 0],
  ['Explicitly Opened (empty)', 'reset', OK, E, 16, 0, 0],
  ['Explicitly Opened (empty)', 'offline', TRANS, EO, 16, 1, 1],
  ['Explicitly Opened (empty)', 'setExt', TRANS, EO, 16, 1, 1],

  ['Closed', 'write', OK, IO, 19, 1, 1],
  ['Closed', 'append', OK, IO, 19, 1, 1],
  ['Closed', 'open', OK, EO, 18, 1, 1],
  ['Closed', 'close', OK, C, 18, 0, 1],
  ['Closed', 'finish', OK, F, 18, 0, 0],
  ['Closed', 'reset', OK, E, 16, 0, 0],
  ['Closed', 'offline', TRANS, C, 18, 0, 1],
  ['Closed', 'setExt', TRANS, C, 18, 0, 1],

  ['Closed (extension)', 'write', OK, IO, 17, 1, 1],
  ['Closed (extension)', 'append', OK, IO, 17, 1, 1],
  ['Closed (extension)', 'open', OK, EO, 16, 1, 1],
  ['Closed (extension)', 'close', OK, C, 16, 0, 1],
  ['Closed (extension)', 'finish', OK, F, 16, 0, 0],
  ['Closed (extension)', 'reset', OK, E, 16, 0, 0],
  ['Closed (extension)', 'offline', TRANS, C, 16, 0, 1],
  ['Closed (extension)', 'setExt', TRANS, C, 16, 0, 1],

  // The state check comes before the write pointer check: Zone Is Full, not Invalid Write.
  ['Full', 'write', Status.ZONE_FULL, F, 22, 0, 0],
  ['Full', 'append', Status.ZONE_FULL, F, 22, 0, 0],
  ['Full', 'open', TRANS, F, 22, 0, 0],
  ['Full', 'close', TRANS, F, 22, 0, 0],
  ['Full', 'finish', OK, F, 22, 0, 0],
  ['Full', 'reset', OK, E, 16, 0, 0],
  ['Full', 'offline', TRANS, F, 22, 0, 0],
  ['Full', 'setExt', TRANS, F, 22, 0, 0],

  ['Full (finished)', 'write', Status.ZONE_FULL, F, 18, 0, 0],
  ['Full (finished)', 'append', Status.ZONE_FULL, F, 18, 0, 0],
  ['Full (finished)', 'open', TRANS, F, 18, 0, 0],
  ['Full (finished)', 'close', TRANS, F, 18, 0, 0],
  ['Full (finished)', 'finish', OK, F, 18, 0, 0],
  ['Full (finished)', 'reset', OK, E, 16, 0, 0],
  ['Full (finished)', 'offline', TRANS, F, 18, 0, 0],
  ['Full (finished)', 'setExt', TRANS, F, 18, 0, 0],

  ['Read Only', 'write', Status.ZONE_READ_ONLY, RO, 18, 0, 0],
  ['Read Only', 'append', Status.ZONE_READ_ONLY, RO, 18, 0, 0],
  ['Read Only', 'open', TRANS, RO, 18, 0, 0],
  ['Read Only', 'close', TRANS, RO, 18, 0, 0],
  ['Read Only', 'finish', TRANS, RO, 18, 0, 0],
  // Spec: Reset of a Read Only zone is an invalid transition (QEMU's quirk R does not apply).
  ['Read Only', 'reset', TRANS, RO, 18, 0, 0],
  ['Read Only', 'offline', OK, OFF, 18, 0, 0],
  ['Read Only', 'setExt', TRANS, RO, 18, 0, 0],

  ['Offline', 'write', Status.ZONE_OFFLINE, OFF, 18, 0, 0],
  ['Offline', 'append', Status.ZONE_OFFLINE, OFF, 18, 0, 0],
  ['Offline', 'open', TRANS, OFF, 18, 0, 0],
  ['Offline', 'close', TRANS, OFF, 18, 0, 0],
  ['Offline', 'finish', TRANS, OFF, 18, 0, 0],
  ['Offline', 'reset', TRANS, OFF, 18, 0, 0],
  ['Offline', 'offline', OK, OFF, 18, 0, 0],
  ['Offline', 'setExt', TRANS, OFF, 18, 0, 0],
];

const COUNT_KEY: Record<number, keyof ZoneCounts> = {
  [E]: 'empty', [IO]: 'implicitOpen', [EO]: 'explicitOpen', [C]: 'closed', [F]: 'full', [RO]: 'readOnly', [OFF]: 'offline',
};

const fmt = (s: NvmeStatus | undefined) => (s ? `0x${s.code.toString(16)}` : 'ok');

describe('transition table: every state × operation', () => {
  it('covers every setup × operation exactly once', () => {
    const keys = TABLE.map(([s, op]) => `${s}/${op}`);
    expect(new Set(keys).size).toBe(keys.length);
    expect(keys.length).toBe(Object.keys(INITIAL).length * OPS.length);
  });

  it.each(Object.entries(INITIAL))('setup %s gives the expected starting point', (setup, [state, wp, open, active]) => {
    const ns = build(setup as Setup);
    expect(ns.stateOf(Z)).toBe(state);
    expect(ns.wpOf(Z)).toBe(wp);
    expect(ns.counts().open).toBe(open);
    expect(ns.counts().active).toBe(active);
  });

  const rows = TABLE.map(([setup, op, result, state, wp, open, active]) =>
    ({ setup, op, label: fmt(result), result, state, wp, open, active }));
  it.each(rows)(
    '$setup × $op → $label',
    ({ setup, op, result, state, wp, open, active }) => {
      const ns = build(setup);
      const before = snapshot(ns);
      const wpBefore = ns.wpOf(Z);
      const r = run(ns, op);

      expect(r.status).toBe(result);
      expect(ns.stateOf(Z)).toBe(state);
      expect(ns.wpOf(Z)).toBe(wp);
      const c = ns.counts();
      expect(c.open).toBe(open);
      expect(c.active).toBe(active);
      expect(ns.openCount).toBe(open);
      expect(ns.activeCount).toBe(active);

      const after = snapshot(ns);
      if (result !== undefined) {
        // A rejected command changes nothing at all.
        expect(after).toEqual(before);
        expect(r.rejection!.zone).toBe(Z);
        expect(r.rejection!.wp).toBe(wpBefore);
        expect(r.rejection!.detail.length).toBeGreaterThan(0);
      } else {
        // Only the addressed zone may change: no implicit close below the limits.
        for (let z = 0; z < ns.nrZones; z++) {
          if (z !== Z) expect(after.report.zones[z]).toEqual(before.report.zones[z]);
        }
        if (op === 'append') expect(r.alba).toBe(wpBefore);
        // Per-state counters agree with the states.
        const n = after.report.zones.filter((d) => d.state === state).length;
        expect(c[COUNT_KEY[state]]).toBe(n);
      }
    },
  );
});

describe('transition side effects', () => {
  it('Set Zone Descriptor Extension stores the zero-padded data and sets ZDEV', () => {
    const ns = build('Empty');
    expect(ns.setDescriptorExtension(Z, new Uint8Array([1, 2, 3]))).toBeUndefined();
    expect(ns.attrsOf(Z) & ZoneAttr.ZDEV).toBe(ZoneAttr.ZDEV);
    const ext = ns.extOf(Z)!;
    expect(ext.length).toBe(64);
    expect(Array.from(ext.subarray(0, 4))).toEqual([1, 2, 3, 0]);
    expect(ext.subarray(3).every((b) => b === 0)).toBe(true);
    const d = reportOf(ns).zones[Z]!;
    expect(d.ext?.length).toBe(64);
  });

  it('Set Zone Descriptor Extension: longer than the extension size or none configured → Invalid Field', () => {
    const ns = build('Empty');
    const before = snapshot(ns);
    expect(ns.setDescriptorExtension(Z, new Uint8Array(65))).toMatchObject({ status: Status.INVALID_FIELD });
    expect(ns.setDescriptorExtension('all', new Uint8Array(1))).toMatchObject({ status: Status.INVALID_FIELD });
    expect(snapshot(ns)).toEqual(before);
    const noExt = new ZonedNamespace({ ...GEO, descrExtSize: 0 });
    expect(noExt.setDescriptorExtension(Z, new Uint8Array(1))).toMatchObject({ status: Status.INVALID_FIELD });
    expect(noExt.stateOf(Z)).toBe(E);
  });

  it('the extension survives writes, open, close and finish, and is cleared by reset and offline', () => {
    const ns = build('Closed (extension)');
    ok(ns.write(ZSLBA, 1));
    ok(ns.manage('open', Z));
    ok(ns.manage('close', Z));
    ok(ns.manage('finish', Z));
    expect(ns.attrsOf(Z) & ZoneAttr.ZDEV).toBe(ZoneAttr.ZDEV);
    expect(ns.extOf(Z)?.[0]).toBe(0xab);
    ok(ns.manage('reset', Z));
    expect(ns.attrsOf(Z)).toBe(0);
    expect(ns.extOf(Z)).toBeUndefined();

    const ns2 = build('Closed (extension)');
    ok(ns2.injectFault('readonly', Z));
    ok(ns2.manage('offline', Z));
    expect(ns2.stateOf(Z)).toBe(OFF);
    expect(ns2.attrsOf(Z)).toBe(0);
    expect(ns2.extOf(Z)).toBeUndefined();
  });

  it('finish and reset count, writes count LBAs', () => {
    const ns = build('Implicitly Opened');
    expect(ns.lbasWrittenOf(Z)).toBe(2);
    ok(ns.manage('finish', Z));
    expect(ns.finishesOf(Z)).toBe(1);
    ok(ns.manage('finish', Z)); // nop
    expect(ns.finishesOf(Z)).toBe(1);
    ok(ns.manage('reset', Z));
    expect(ns.resetsOf(Z)).toBe(1);
    ok(ns.manage('reset', Z)); // Empty: nop
    expect(ns.resetsOf(Z)).toBe(1);
  });

  it('a write that reaches the zone capacity makes the zone Full and releases its resources', () => {
    for (const setup of ['Empty', 'Implicitly Opened', 'Explicitly Opened', 'Closed', 'Closed (extension)'] as Setup[]) {
      const ns = build(setup);
      const wp = ns.wpOf(Z);
      expect(ns.write(wp, ZCAP_END - wp)).toBeUndefined();
      expect(ns.stateOf(Z)).toBe(F);
      expect(ns.wpOf(Z)).toBe(ZCAP_END);
      expect(ns.counts()).toMatchObject({ open: 0, active: 0, full: 1 });
      // And one LBA more is refused as Zone Is Full.
      expect(ns.write(ZCAP_END, 1)).toMatchObject({ status: Status.ZONE_FULL });
    }
  });

  it('appends land at the write pointer and return it', () => {
    const ns = build('Empty');
    expect(ns.append(Z, 2)).toBe(16);
    expect(ns.append(Z, 3)).toBe(18);
    expect(ns.append(Z, 1)).toBe(21);
    expect(ns.stateOf(Z)).toBe(F);
    expect(ns.append(Z, 1)).toMatchObject({ status: Status.ZONE_FULL });
  });

  it('rejections in write-capable states: off the write pointer, past the capacity, into the next zone', () => {
    for (const setup of ['Empty', 'Implicitly Opened', 'Explicitly Opened', 'Explicitly Opened (empty)', 'Closed', 'Closed (extension)'] as Setup[]) {
      const ns = build(setup);
      const before = snapshot(ns);
      const wp = ns.wpOf(Z);
      expect(ns.write(wp + 1, 1), setup).toMatchObject({ status: Status.ZONE_INVALID_WRITE, zone: Z, wp });
      if (wp > ZSLBA) expect(ns.write(wp - 1, 1), setup).toMatchObject({ status: Status.ZONE_INVALID_WRITE });
      expect(ns.write(wp, ZCAP_END - wp + 1), setup).toMatchObject({ status: Status.ZONE_BOUNDARY_ERROR, zone: Z });
      expect(ns.write(wp, 8 + ZSLBA - wp + 1), setup).toMatchObject({ status: Status.ZONE_BOUNDARY_ERROR });
      expect(ns.append(Z, ZCAP_END - wp + 1), setup).toMatchObject({ status: Status.ZONE_BOUNDARY_ERROR });
      expect(ns.append(Z, 0), setup).toMatchObject({ status: Status.INVALID_FIELD });
      expect(ns.write(wp, 0), setup).toMatchObject({ status: Status.INVALID_FIELD });
      expect(snapshot(ns), setup).toEqual(before);
    }
  });

  it('LBA and zone index range checks', () => {
    const ns = build('Empty');
    const before = snapshot(ns);
    expect(ns.write(ns.nlba, 1)).toMatchObject({ status: Status.LBA_OUT_OF_RANGE });
    expect(ns.write(-1, 1)).toMatchObject({ status: Status.LBA_OUT_OF_RANGE });
    expect(ns.write(ns.nlba - 1, 2)).toMatchObject({ status: Status.LBA_OUT_OF_RANGE });
    expect(ns.append(ns.nrZones, 1)).toMatchObject({ status: Status.LBA_OUT_OF_RANGE });
    for (const cmd of ['open', 'close', 'finish', 'reset', 'offline'] as const) {
      expect(ns.manage(cmd, ns.nrZones)).toMatchObject({ status: Status.LBA_OUT_OF_RANGE });
      expect(ns.manage(cmd, -1)).toMatchObject({ status: Status.LBA_OUT_OF_RANGE });
      expect(ns.manage(cmd, 1.5)).toMatchObject({ status: Status.LBA_OUT_OF_RANGE });
    }
    expect(ns.injectFault('offline', ns.nrZones)).toMatchObject({ status: Status.LBA_OUT_OF_RANGE });
    expect(snapshot(ns)).toEqual(before);
  });

  it('fault injection from every state finishes first: resources are released', () => {
    for (const setup of Object.keys(INITIAL) as Setup[]) {
      for (const kind of ['readonly', 'offline'] as const) {
        const ns = build(setup);
        expect(ns.injectFault(kind, Z), `${setup} ${kind}`).toBeUndefined();
        expect(ns.stateOf(Z)).toBe(kind === 'readonly' ? RO : OFF);
        expect(ns.counts().open).toBe(0);
        expect(ns.counts().active).toBe(0);
        expect(ns.oldestImplicitlyOpen).toBe(-1);
      }
    }
  });
});

// -------------------------------------------------------------------------------------------------
// Resource limits (§4): the cells of the table that need a resource, at the limits.

describe('transition table at the resource limits', () => {
  /** Geometry with more zones: 12 zones of 8 LBAs (capacity 6), zone 0 conventional. */
  const big = (o: Partial<Geometry>): Partial<Geometry> => ({ ...GEO, capacity: 12 * 4096, ...o });

  interface Case {
    name: string;
    geo: Partial<Geometry>;
    /** Bring the namespace to the limit. */
    prep: (ns: ZonedNamespace) => void;
    zone: number;
    op: Op;
    result: NvmeStatus | undefined;
    /** New state of the target zone. */
    state: ZoneState;
    open: number;
    active: number;
    /** The zone the controller closed implicitly, if any. */
    closed?: number;
    /** Success that changes nothing. */
    nop?: boolean;
  }

  const W = (ns: ZonedNamespace, z: number, n = 1) => ok(ns.write(ns.wpOf(z), n));
  const M = (ns: ZonedNamespace, cmd: 'open' | 'close', z: number) => ok(ns.manage(cmd, z));

  const cases: Case[] = [];
  // MOR=2 < MAR=3, active exhausted (Closed 5, then IO 3, IO 4).
  const activeFull = (ns: ZonedNamespace) => { W(ns, 5); M(ns, 'close', 5); W(ns, 3); W(ns, 4); };
  for (const at of [true, false]) {
    const geo = big({ maxOpen: 2, maxActive: 3, autoTransition: at });
    const tag = `MOR 2 < MAR 3, active full, autoTransition ${at}`;
    // Spec: a rejected command changes nothing — no implicit close before the active check fails.
    cases.push({ name: `${tag}: write Empty`, geo, prep: activeFull, zone: Z, op: 'write', result: Status.TOO_MANY_ACTIVE, state: E, open: 2, active: 3 });
    cases.push({ name: `${tag}: append Empty`, geo, prep: activeFull, zone: Z, op: 'append', result: Status.TOO_MANY_ACTIVE, state: E, open: 2, active: 3 });
    cases.push({ name: `${tag}: open Empty`, geo, prep: activeFull, zone: Z, op: 'open', result: Status.TOO_MANY_ACTIVE, state: E, open: 2, active: 3 });
    cases.push({ name: `${tag}: setExt Empty`, geo, prep: activeFull, zone: Z, op: 'setExt', result: Status.TOO_MANY_ACTIVE, state: E, open: 2, active: 3 });
    // Spec: finishing an Empty zone needs no resource.
    cases.push({ name: `${tag}: finish Empty`, geo, prep: activeFull, zone: Z, op: 'finish', result: OK, state: F, open: 2, active: 3 });
    cases.push({ name: `${tag}: reset Empty`, geo, prep: activeFull, zone: Z, op: 'reset', result: OK, state: E, open: 2, active: 3, nop: true });
    // Closed → open needs only an open resource; with auto-transition the oldest IO zone (3) closes.
    cases.push({
      name: `${tag}: write Closed`, geo, prep: activeFull, zone: 5, op: 'write',
      result: at ? OK : Status.TOO_MANY_OPEN, state: at ? IO : C, open: 2, active: 3, ...(at ? { closed: 3 } : {}),
    });
    cases.push({
      name: `${tag}: open Closed`, geo, prep: activeFull, zone: 5, op: 'open',
      result: at ? OK : Status.TOO_MANY_OPEN, state: at ? EO : C, open: 2, active: 3, ...(at ? { closed: 3 } : {}),
    });
    cases.push({ name: `${tag}: finish Closed`, geo, prep: activeFull, zone: 5, op: 'finish', result: OK, state: F, open: 2, active: 2 });
    // Writes to open zones need nothing.
    cases.push({ name: `${tag}: write IO`, geo, prep: activeFull, zone: 4, op: 'write', result: OK, state: IO, open: 2, active: 3 });
    cases.push({ name: `${tag}: open IO`, geo, prep: activeFull, zone: 4, op: 'open', result: OK, state: EO, open: 2, active: 3 });
  }

  // MOR == MAR == 2, both exhausted by two IO zones.
  const twoIo = (ns: ZonedNamespace) => { W(ns, 3); W(ns, 4); };
  for (const at of [true, false]) {
    const geo = big({ maxOpen: 2, maxActive: 2, autoTransition: at });
    const tag = `MOR == MAR == 2, autoTransition ${at}`;
    // Spec: MAR == MOR and active short → 0x1BD; QEMU would also close zone 3 first. Spec wins.
    cases.push({ name: `${tag}: write Empty`, geo, prep: twoIo, zone: Z, op: 'write', result: Status.TOO_MANY_ACTIVE, state: E, open: 2, active: 2 });
    cases.push({ name: `${tag}: open Empty`, geo, prep: twoIo, zone: Z, op: 'open', result: Status.TOO_MANY_ACTIVE, state: E, open: 2, active: 2 });
    cases.push({ name: `${tag}: append Empty`, geo, prep: twoIo, zone: Z, op: 'append', result: Status.TOO_MANY_ACTIVE, state: E, open: 2, active: 2 });
    cases.push({ name: `${tag}: finish Empty`, geo, prep: twoIo, zone: Z, op: 'finish', result: OK, state: F, open: 2, active: 2 });
    cases.push({ name: `${tag}: close IO`, geo, prep: twoIo, zone: 3, op: 'close', result: OK, state: C, open: 1, active: 2 });
  }

  // MOR 2 < MAR 4: the open limit is reached, the active limit is not.
  for (const at of [true, false]) {
    const geo = big({ maxOpen: 2, maxActive: 4, autoTransition: at });
    const tag = `MOR 2 < MAR 4, open full, autoTransition ${at}`;
    const res = at ? OK : Status.TOO_MANY_OPEN;
    cases.push({ name: `${tag}: write Empty`, geo, prep: twoIo, zone: Z, op: 'write', result: res, state: at ? IO : E, open: 2, active: at ? 3 : 2, ...(at ? { closed: 3 } : {}) });
    cases.push({ name: `${tag}: append Empty`, geo, prep: twoIo, zone: Z, op: 'append', result: res, state: at ? IO : E, open: 2, active: at ? 3 : 2, ...(at ? { closed: 3 } : {}) });
    cases.push({ name: `${tag}: open Empty`, geo, prep: twoIo, zone: Z, op: 'open', result: res, state: at ? EO : E, open: 2, active: at ? 3 : 2, ...(at ? { closed: 3 } : {}) });
    cases.push({ name: `${tag}: setExt Empty (needs no open resource)`, geo, prep: twoIo, zone: Z, op: 'setExt', result: OK, state: C, open: 2, active: 3 });
    cases.push({ name: `${tag}: finish Empty`, geo, prep: twoIo, zone: Z, op: 'finish', result: OK, state: F, open: 2, active: 2 });

    // Only explicitly opened zones hold the open resources: they are never closed implicitly.
    const twoEo = (ns: ZonedNamespace) => { M(ns, 'open', 3); M(ns, 'open', 4); };
    const tag2 = `MOR 2 < MAR 4, two EO zones, autoTransition ${at}`;
    cases.push({ name: `${tag2}: write Empty`, geo, prep: twoEo, zone: Z, op: 'write', result: Status.TOO_MANY_OPEN, state: E, open: 2, active: 2 });
    cases.push({ name: `${tag2}: open Empty`, geo, prep: twoEo, zone: Z, op: 'open', result: Status.TOO_MANY_OPEN, state: E, open: 2, active: 2 });
    const eoAndClosed = (ns: ZonedNamespace) => { W(ns, 5); M(ns, 'close', 5); twoEo(ns); };
    cases.push({ name: `${tag2}: write Closed`, geo, prep: eoAndClosed, zone: 5, op: 'write', result: Status.TOO_MANY_OPEN, state: C, open: 2, active: 3 });
    cases.push({ name: `${tag2}: open Closed`, geo, prep: eoAndClosed, zone: 5, op: 'open', result: Status.TOO_MANY_OPEN, state: C, open: 2, active: 3 });

    // One EO and one IO: the IO one is closed even though the EO zone is older.
    const eoThenIo = (ns: ZonedNamespace) => { M(ns, 'open', 3); W(ns, 4); };
    const tag3 = `MOR 2 < MAR 4, EO 3 then IO 4, autoTransition ${at}`;
    cases.push({ name: `${tag3}: write Empty`, geo, prep: eoThenIo, zone: Z, op: 'write', result: res, state: at ? IO : E, open: 2, active: at ? 3 : 2, ...(at ? { closed: 4 } : {}) });
  }

  // The victim is the OLDEST implicitly opened zone (by when it was opened, not by index, not LRU).
  {
    const geo = big({ maxOpen: 3, maxActive: 6 });
    const order = (ns: ZonedNamespace) => { W(ns, 7); W(ns, 4); W(ns, 9); W(ns, 7); W(ns, 4); };
    cases.push({ name: 'victim is the first zone opened (7), though written since', geo, prep: order, zone: Z, op: 'write', result: OK, state: IO, open: 3, active: 4, closed: 7 });
    const reopened = (ns: ZonedNamespace) => { W(ns, 7); W(ns, 4); W(ns, 9); M(ns, 'close', 7); W(ns, 7); };
    cases.push({ name: 'a zone closed and re-opened goes to the back of the queue', geo, prep: reopened, zone: Z, op: 'open', result: OK, state: EO, open: 3, active: 4, closed: 4 });
    const promoted = (ns: ZonedNamespace) => { W(ns, 7); W(ns, 4); W(ns, 9); M(ns, 'open', 7); };
    cases.push({ name: 'an IO zone explicitly opened leaves the queue', geo, prep: promoted, zone: Z, op: 'append', result: OK, state: IO, open: 3, active: 4, closed: 4 });
  }

  // Unlimited resources.
  {
    const geo = big({ maxOpen: 0, maxActive: 0 });
    const all = (ns: ZonedNamespace) => { for (let z = 3; z < 11; z++) W(ns, z); };
    cases.push({ name: 'no limits: a 9th open zone', geo, prep: all, zone: Z, op: 'write', result: OK, state: IO, open: 9, active: 9 });
    const geo2 = big({ maxOpen: 2, maxActive: 0 });
    const eo = (ns: ZonedNamespace) => { for (let z = 5; z < 11; z++) { W(ns, z); M(ns, 'close', z); } M(ns, 'open', 3); W(ns, 4); };
    cases.push({ name: 'MOR 2, MAR unlimited: only the open limit applies', geo: geo2, prep: eo, zone: Z, op: 'write', result: OK, state: IO, open: 2, active: 9, closed: 4 });
  }

  it.each(cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const ns = new ZonedNamespace(c.geo);
    c.prep(ns);
    const before = snapshot(ns);
    const r = run(ns, c.op, c.zone);
    expect(r.status).toBe(c.result);
    expect(ns.stateOf(c.zone)).toBe(c.state);
    expect(ns.counts().open).toBe(c.open);
    expect(ns.counts().active).toBe(c.active);
    const after = snapshot(ns);
    if (c.result !== undefined) {
      expect(after).toEqual(before);
      return;
    }
    // Which zones changed: the target, plus the implicitly closed one if any.
    const changed = after.report.zones
      .filter((d, i) => JSON.stringify(d) !== JSON.stringify(before.report.zones[i]))
      .map((d) => d.zone);
    const expected = c.nop ? [] : c.closed === undefined ? [c.zone] : [c.zone, c.closed].sort((a, b) => a - b);
    expect(changed).toEqual(expected);
    expect([...ns.lastChanges()].sort((a, b) => a - b)).toEqual(expected);
    if (c.closed !== undefined) {
      expect(before.report.zones[c.closed]!.state).toBe(IO);
      expect(ns.stateOf(c.closed)).toBe(C);
      expect(ns.wpOf(c.closed)).toBe(before.report.zones[c.closed]!.wp);
    }
  });
});
