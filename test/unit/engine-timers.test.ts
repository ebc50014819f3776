/**
 * The controller's own zone changes, driven by a test clock: Reset/Finish Recommended Limits,
 * zone active excursions, timers across power cycles, loading and reverts.
 */
import { describe, it, expect } from 'vitest';
import {
  ZonedNamespace, ZoneAttr, Status, isRejection, OrderedZoneList,
  type DeviceEvent, type Geometry, type Rejection,
} from '../../src/engine/index.js';
import { E, IO, EO, C, F } from '../helpers/states.js';

class TestClock {
  now = 1_000_000;
  readonly read = (): number => this.now;
  advance(seconds: number): void {
    this.now += seconds * 1000;
  }
}

function setup(o: Partial<Geometry> = {}): { n: ZonedNamespace; clock: TestClock } {
  const clock = new TestClock();
  const n = new ZonedNamespace({
    lbaSize: 512, capacity: 8 * 4096, zoneSize: 4096, zoneCapacity: 4096, convZones: 1, maxOpen: 4, maxActive: 4,
    rrl: 100, frl: 50, ...o,
  }, { clock: clock.read });
  return { n, clock };
}

function ok(r: Rejection | undefined | number): void {
  if (isRejection(r)) throw new Error(`unexpected rejection: ${r.detail}`);
}

const fill = (n: ZonedNamespace, z: number): void => ok(n.write(z * 8, 8));
const brief = (e: DeviceEvent): [number, number, number, string] => [e.zone, e.fromAttrs, e.toAttrs, e.reason];

describe('Reset Recommended Limit', () => {
  it('sets RZR once a zone has been Full for RRL seconds, at the expiry time', () => {
    const { n, clock } = setup();
    fill(n, 2);
    clock.advance(30);
    ok(n.manage('finish', 3));
    expect(n.nextDeadline()).toBe(1_000_000 + 100_000);
    clock.advance(69.999);
    expect(n.tick()).toEqual([]);
    clock.advance(0.001);
    const events = n.tick();
    expect(events.map(brief)).toEqual([[2, 0, ZoneAttr.RZR, 'reset-recommended-limit']]);
    expect(events[0]!.time).toBe(1_100_000);
    expect(events[0]!.limit).toBe(100);
    expect(n.lastChanges()).toEqual([2]);
    clock.advance(1000);
    expect(n.tick().map(brief)).toEqual([[3, 0, ZoneAttr.RZR, 'reset-recommended-limit']]);
    expect(n.tick()).toEqual([]);
    expect(n.nextDeadline()).toBe(Infinity);
  });

  it('starts again after a reset (which clears RZR) and does nothing for zones reset in time', () => {
    const { n, clock } = setup();
    fill(n, 2);
    clock.advance(200);
    n.tick();
    ok(n.manage('reset', 2));
    expect(n.attrsOf(2)).toBe(0);
    fill(n, 2);
    fill(n, 3);
    clock.advance(50);
    ok(n.manage('reset', 3));
    clock.advance(50);
    expect(n.tick().map((e) => e.zone)).toEqual([2]);
  });

  it('does not report a zone whose attribute was already set by hand', () => {
    const { n, clock } = setup();
    fill(n, 2);
    ok(n.setRecommendation(2, ZoneAttr.RZR, true));
    clock.advance(500);
    expect(n.tick()).toEqual([]);
  });
});

describe('Finish Recommended Limit', () => {
  it('sets FZR on zones active for FRL seconds, through close and reopen', () => {
    const { n, clock } = setup();
    ok(n.write(8, 1)); // zone 1: Empty → Implicitly Opened
    clock.advance(20);
    ok(n.manage('close', 1));
    ok(n.write(9, 1));
    ok(n.manage('open', 2));
    clock.advance(30);
    const events = n.tick();
    expect(events.map(brief)).toEqual([[1, 0, ZoneAttr.FZR, 'finish-recommended-limit']]);
    expect(events[0]!.fromState).toBe(IO);
    clock.advance(20);
    expect(n.tick().map((e) => [e.zone, e.toState])).toEqual([[2, EO]]);
  });

  it('stops for zones that leave the active states, and finishing clears FZR', () => {
    const { n, clock } = setup();
    ok(n.write(8, 1));
    ok(n.write(16, 1));
    clock.advance(10);
    ok(n.manage('finish', 1));
    ok(n.manage('reset', 2));
    clock.advance(100);
    expect(n.tick().filter((e) => e.reason === 'finish-recommended-limit')).toEqual([]);
    ok(n.write(24, 1));
    clock.advance(60);
    expect(n.tick().map((e) => e.zone)).toEqual([3]);
    ok(n.manage('finish', 3));
    expect(n.attrsOf(3) & ZoneAttr.FZR).toBe(0);
  });

  it('reports expiries of both limits in time order', () => {
    const { n, clock } = setup({ rrl: 10, frl: 20 });
    ok(n.write(8, 1));
    clock.advance(5);
    fill(n, 2);
    clock.advance(100);
    expect(n.tick().map((e) => [e.zone, e.time])).toEqual([[2, 1_015_000], [1, 1_020_000]]);
  });
});

describe('zone active excursion', () => {
  it.each([
    ['Implicitly Opened', (n: ZonedNamespace) => ok(n.write(8, 1)), IO],
    ['Explicitly Opened', (n: ZonedNamespace) => ok(n.manage('open', 1)), EO],
    ['Closed', (n: ZonedNamespace) => { ok(n.write(8, 1)); ok(n.manage('close', 1)); }, C],
  ])('finishes a %s zone with ZFC and releases its resources', (_name, act, from) => {
    const { n, clock } = setup();
    act(n);
    expect(n.activeCount).toBe(1);
    const e = n.excursion(1);
    if (isRejection(e)) throw new Error(e.detail);
    expect([e.zone, e.fromState, e.toState, e.toAttrs, e.reason, e.time]).toEqual([1, from, F, ZoneAttr.ZFC, 'zone-active-excursion', clock.now]);
    expect(n.stateOf(1)).toBe(F);
    expect([n.openCount, n.activeCount]).toEqual([0, 0]);
    ok(n.manage('reset', 1));
    expect(n.attrsOf(1)).toBe(0);
  });

  it('is refused for zones that are not active, and for conventional zones', () => {
    const { n } = setup();
    const r = n.excursion(1);
    expect(isRejection(r) && r.status).toBe(Status.INVALID_TRANSITION);
    fill(n, 2);
    expect(isRejection(n.excursion(2))).toBe(true);
    const c = n.excursion(0);
    expect(isRejection(c) && c.status).toBe(Status.INVALID_FIELD);
  });
});

describe('timers and the rest of the engine', () => {
  it('survive loading: start times come from the records, unknown ones start now', () => {
    const { n, clock } = setup();
    const rec = { flags: 0, resets: 0, finishes: 0, lbasWritten: 8, attrs: 0 };
    n.loadZone(2, { ...rec, state: F, wp: 24, timerSince: clock.now - 90_000 });
    n.loadZone(3, { ...rec, state: F, wp: 32, timerSince: clock.now - 95_000 });
    n.loadZone(4, { ...rec, state: F, wp: 40 });
    n.loadZone(5, { ...rec, state: C, wp: 41, timerSince: clock.now - 49_000 });
    n.finishLoad();
    expect(n.timerSinceOf(3)).toBe(clock.now - 95_000);
    expect(n.timerSinceOf(4)).toBe(clock.now);
    clock.advance(5);
    expect(n.tick().map((e) => e.zone)).toEqual([5, 3]);
    clock.advance(5);
    expect(n.tick().map((e) => e.zone)).toEqual([2]);
  });

  it('a reverted operation puts the timers back where they were', () => {
    const { n, clock } = setup();
    fill(n, 2);
    clock.advance(10);
    fill(n, 3);
    clock.advance(10);
    ok(n.manage('reset', 2));
    n.revertLastOperation();
    expect(n.timerSinceOf(2)).toBe(1_000_000);
    clock.advance(80);
    expect(n.tick().map((e) => e.zone)).toEqual([2]);
    n.revertLastOperation();
    expect(n.attrsOf(2)).toBe(0);
    expect(n.tick().map((e) => e.zone)).toEqual([2]);
  });

  it('namespaces without limits keep no timers', () => {
    const { n, clock } = setup({ rrl: 0, frl: 0 });
    fill(n, 2);
    clock.advance(1e6);
    expect(n.tick()).toEqual([]);
    expect(n.nextDeadline()).toBe(Infinity);
    expect(n.timerSinceOf(2)).toBe(-1);
    expect(n.stateOf(3)).toBe(E);
  });
});

describe('OrderedZoneList', () => {
  it('keeps zones in key order through push, sorted insert and removal', () => {
    const t = new OrderedZoneList(6);
    t.push(1, 10);
    t.push(2, 20);
    t.push(3, 30);
    t.insertSorted(4, 15);
    t.insertSorted(5, 40);
    t.remove(2);
    const order: number[] = [];
    while (t.head >= 0) {
      order.push(t.head);
      t.remove(t.head);
    }
    expect(order).toEqual([1, 4, 3, 5]);
  });
});
