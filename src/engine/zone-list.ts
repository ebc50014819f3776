/**
 * An intrusive doubly linked list of zones kept in the order of a per-zone key, over typed arrays
 * (no allocation per operation): the controller's zone timers (key: the device time a stay began)
 * and the implicitly opened zones, oldest first (key: the order they were opened in). Appending
 * the largest key and removing are O(1); putting a zone back at an older key walks the list.
 */

export class OrderedZoneList {
  /** Each zone's key (non-negative; the list is in key order); -1 when it is not in the list. */
  readonly key: Float64Array;
  private readonly prev: Int32Array;
  private readonly next: Int32Array;
  head = -1;
  private tail = -1;

  constructor(n: number) {
    this.key = new Float64Array(n).fill(-1);
    this.prev = new Int32Array(n).fill(-1);
    this.next = new Int32Array(n).fill(-1);
  }

  has(z: number): boolean {
    return this.key[z]! >= 0;
  }

  /** Append zone z with `key`, which must be the largest so far. */
  push(z: number, key: number): void {
    if (this.has(z)) this.remove(z);
    this.key[z] = key;
    this.prev[z] = this.tail;
    this.next[z] = -1;
    if (this.tail >= 0) this.next[this.tail] = z;
    else this.head = z;
    this.tail = z;
  }

  /** Put zone z back with any `key` (reverting an operation): walks the list from its tail. */
  insertSorted(z: number, key: number): void {
    if (this.has(z)) this.remove(z);
    this.key[z] = key;
    let after = this.tail;
    while (after >= 0 && this.key[after]! > key) after = this.prev[after]!;
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
    this.key[z] = -1;
  }

  clear(): void {
    this.key.fill(-1);
    this.prev.fill(-1);
    this.next.fill(-1);
    this.head = this.tail = -1;
  }
}
