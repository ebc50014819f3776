/**
 * The controller's zone timers (ZNS §2.1.1.5, Reset/Finish Recommended Limits): a zone that has
 * been Full for RRL, or active for FRL, gets the Reset / Finish Zone Recommended attribute.
 *
 * Each timer is an intrusive doubly linked list of zones ordered by the device time at which the
 * zone started its stay (Full, or active). The device clock never runs backwards, so a zone that
 * starts a stay always goes to the tail and the list stays sorted: starting, ending and expiring
 * a stay are O(1), and finding what is due only looks at the heads.
 */

export class TimerList {
  /** Device time (ms) at which each zone's stay began; -1 when it is not in the list. */
  readonly since: Float64Array;
  private readonly prev: Int32Array;
  private readonly next: Int32Array;
  head = -1;
  private tail = -1;

  constructor(n: number) {
    this.since = new Float64Array(n).fill(-1);
    this.prev = new Int32Array(n).fill(-1);
    this.next = new Int32Array(n).fill(-1);
  }

  has(z: number): boolean {
    return this.since[z]! >= 0;
  }

  /** Start zone z's stay at `now` (the latest time so far). */
  push(z: number, now: number): void {
    if (this.has(z)) this.remove(z);
    this.since[z] = now;
    this.prev[z] = this.tail;
    this.next[z] = -1;
    if (this.tail >= 0) this.next[this.tail] = z;
    else this.head = z;
    this.tail = z;
  }

  /** Put zone z back with a stay that began at `since` (reverting, loading): walks the list. */
  insertSorted(z: number, since: number): void {
    if (this.has(z)) this.remove(z);
    this.since[z] = since;
    let after = this.tail;
    while (after >= 0 && this.since[after]! > since) after = this.prev[after]!;
    const before = after >= 0 ? this.next[after]! : this.head;
    this.prev[z] = after;
    this.next[z] = before;
    if (after >= 0) this.next[after] = z;
    else this.head = z;
    if (before >= 0) this.prev[before] = z;
    else this.tail = z;
  }

  remove(z: number): void {
    if (!this.has(z)) return;
    const p = this.prev[z]!;
    const n = this.next[z]!;
    if (p >= 0) this.next[p] = n;
    else this.head = n;
    if (n >= 0) this.prev[n] = p;
    else this.tail = p;
    this.prev[z] = this.next[z] = -1;
    this.since[z] = -1;
  }

  clear(): void {
    this.since.fill(-1);
    this.prev.fill(-1);
    this.next.fill(-1);
    this.head = this.tail = -1;
  }
}

/** A change the device made on its own, as the events file reports it. */
export interface DeviceEvent {
  /** Device time, ms since the epoch. */
  time: number;
  zone: number;
  fromState: number;
  toState: number;
  fromAttrs: number;
  toAttrs: number;
  reason: DeviceEventReason;
  /** The limit that expired, in seconds (RRL / FRL events). */
  limit?: number;
}

export type DeviceEventReason = 'reset-recommended-limit' | 'finish-recommended-limit' | 'zone-active-excursion';
