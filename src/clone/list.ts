/**
 * A Redis list: a ring buffer of byte strings. Pushes and pops at either end are O(1) (amortised),
 * and so is reading any index, so LRANGE is O(m) for m elements and LINDEX O(1); inserting in the
 * middle (LINSERT) moves the elements on the shorter side.
 *
 * Elements are never changed in place (LSET stores a new array), and the list itself is changed
 * only through `Keyspace.modify`, which copies it first when a snapshot still reads it.
 */

const capacityInitial = 8;

export class ListValue {
  readonly type = "list";
  /** The keyspace epoch this list was made in (see `Keyspace.modify`). */
  epoch: number;
  private items: Array<Uint8Array | undefined>;
  private head = 0;
  private count = 0;
  /** capacity - 1; the capacity is a power of two. */
  private mask: number;

  constructor(epoch: number, capacity = capacityInitial) {
    let size = capacityInitial;
    while (size < capacity) size *= 2;
    this.epoch = epoch;
    this.items = new Array<Uint8Array | undefined>(size);
    this.mask = size - 1;
  }

  get size(): number {
    return this.count;
  }

  /** The element at `index` (0 is the head), which must be in range. */
  at(index: number): Uint8Array {
    return this.items[(this.head + index) & this.mask] as Uint8Array;
  }

  setAt(index: number, value: Uint8Array): void {
    this.items[(this.head + index) & this.mask] = value;
  }

  pushFront(value: Uint8Array): void {
    if (this.count === this.items.length) this.resize(this.items.length * 2);
    this.head = (this.head - 1) & this.mask;
    this.items[this.head] = value;
    this.count++;
  }

  pushBack(value: Uint8Array): void {
    if (this.count === this.items.length) this.resize(this.items.length * 2);
    this.items[(this.head + this.count) & this.mask] = value;
    this.count++;
  }

  popFront(): Uint8Array | undefined {
    if (this.count === 0) return undefined;
    const value = this.items[this.head];
    this.items[this.head] = undefined;
    this.head = (this.head + 1) & this.mask;
    this.count--;
    this.maybeShrink();
    return value;
  }

  popBack(): Uint8Array | undefined {
    if (this.count === 0) return undefined;
    const at = (this.head + this.count - 1) & this.mask;
    const value = this.items[at];
    this.items[at] = undefined;
    this.count--;
    this.maybeShrink();
    return value;
  }

  /** Inserts `value` so that it is at `index` (0 to size), moving the shorter side: O(min(index, size - index)). */
  insertAt(index: number, value: Uint8Array): void {
    if (this.count === this.items.length) this.resize(this.items.length * 2);
    if (index < this.count / 2) {
      // The elements before `index` move one place towards the front.
      this.head = (this.head - 1) & this.mask;
      for (let i = 0; i < index; i++) this.setAt(i, this.at(i + 1));
    } else {
      for (let i = this.count; i > index; i--) this.setAt(i, this.at(i - 1));
    }
    this.setAt(index, value);
    this.count++;
  }

  /** Keeps only the elements in [start, stop] (already clamped, inclusive); empties it when null. */
  trim(range: readonly [number, number] | null): void {
    const kept = range === null ? [] : this.slice(range[0], range[1] + 1);
    this.replaceWith(kept);
  }

  /** Removes the elements for which `remove` says true, scanning from the head (or the tail). */
  removeWhere(remove: (value: Uint8Array) => boolean, fromTail: boolean, limit: number): number {
    const all = this.slice(0, this.count);
    if (fromTail) all.reverse();
    const kept: Uint8Array[] = [];
    let removed = 0;
    for (const value of all) {
      if (removed < limit && remove(value)) removed++;
      else kept.push(value);
    }
    if (removed === 0) return 0;
    if (fromTail) kept.reverse();
    this.replaceWith(kept);
    return removed;
  }

  /** Elements [from, to) as a new array. */
  slice(from: number, to: number): Uint8Array[] {
    const out = new Array<Uint8Array>(Math.max(0, to - from));
    for (let i = from; i < to; i++) out[i - from] = this.at(i);
    return out;
  }

  /** A copy made in `epoch`: the array of references is copied, the elements are shared (immutable). */
  clone(epoch: number): ListValue {
    const copy = new ListValue(epoch, this.count);
    for (let i = 0; i < this.count; i++) copy.items[i] = this.at(i);
    copy.count = this.count;
    return copy;
  }

  private replaceWith(values: readonly Uint8Array[]): void {
    let size = capacityInitial;
    while (size < values.length) size *= 2;
    this.items = new Array<Uint8Array | undefined>(size);
    for (let i = 0; i < values.length; i++) this.items[i] = values[i];
    this.mask = size - 1;
    this.head = 0;
    this.count = values.length;
  }

  private maybeShrink(): void {
    if (this.items.length > 64 && this.count < this.items.length / 4) this.resize(this.items.length / 2);
  }

  private resize(size: number): void {
    const items = new Array<Uint8Array | undefined>(size);
    for (let i = 0; i < this.count; i++) items[i] = this.at(i);
    this.items = items;
    this.head = 0;
    this.mask = size - 1;
  }
}
