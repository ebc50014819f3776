/**
 * Which zones of a mounted namespace changed, and in what order (zones.bin's CHANGE_SEQ,
 * docs/zones-bin.md "Following changes"). One counter orders every change the mount makes; a
 * zone's sequence number is the counter just after its latest change, a group's the highest of
 * its zones'. The store reports every zone whose record it writes (each change of a zone is
 * persisted), so nothing changes unseen, whatever the cause: a write, a command, an implicit
 * close to make room, the device's timers, a power cycle.
 *
 * The zones.bin generation is EPOCH << 32 | COUNT. The epoch is random per mount and attach, and
 * a new one starts (every number back to 0) rather than let the 32-bit count wrap, so a follower
 * that sees another epoch knows it must read everything.
 */
import { randomInt } from 'node:crypto';
import { CHANGE_GROUP_ZONES, changeGroups } from '../format/changes-bin.js';
import { ZoneChangeState, makeGeneration } from '../format/zones-bin.js';

const LAST_COUNT = 0xffff_ffff;

export class ZoneChangeTracker implements ZoneChangeState {
  readonly zoneSeq: Uint32Array;
  readonly groupSeq: Uint32Array;
  readonly groupZones = CHANGE_GROUP_ZONES;
  epoch: number;
  count: number;
  private readonly newEpoch: () => number;

  /** `newEpoch` and `count` (where the count starts) are for tests. */
  constructor(nrZones: number, opts: { newEpoch?: () => number; count?: number } = {}) {
    this.newEpoch = opts.newEpoch ?? (() => randomInt(1, LAST_COUNT));
    this.zoneSeq = new Uint32Array(nrZones);
    this.groupSeq = new Uint32Array(changeGroups(nrZones));
    this.epoch = this.newEpoch() >>> 0;
    this.count = opts.count ?? 0;
  }

  get generation(): bigint {
    return makeGeneration(this.epoch, this.count);
  }

  /** Something the header shows moved (not a zone record): the generation changes. */
  bump(): void {
    this.next();
  }

  /** These zones' records changed (all in one operation): they get one new sequence number. */
  changed(zones: readonly number[]): void {
    if (zones.length === 0) return;
    const seq = this.next();
    for (const z of zones) {
      this.zoneSeq[z] = seq;
      this.groupSeq[(z / CHANGE_GROUP_ZONES) | 0] = seq;
    }
  }

  private next(): number {
    if (this.count === LAST_COUNT) this.restart();
    return ++this.count;
  }

  /** A new epoch: followers read everything once, and the numbers start again from 0. */
  private restart(): void {
    const old = this.epoch;
    do this.epoch = this.newEpoch() >>> 0;
    while (this.epoch === old);
    this.zoneSeq.fill(0);
    this.groupSeq.fill(0);
    this.count = 0;
  }
}
