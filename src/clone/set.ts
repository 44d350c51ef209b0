/**
 * A Redis set of members (binary-safe latin1 strings): an array of the members and a map from
 * member to its place in the array. Adding, removing (the last member moves into the hole) and
 * picking a member at random (SPOP) are O(1); the order of SMEMBERS is the array's, which depends
 * only on the commands applied, so it is the same on every replica. SSCAN does not go by this order
 * (a removal moves the last member), but by a hash of each member's text: see `scanStep` in scan.ts.
 */
export class SetValue {
  readonly type = "set";
  /** The keyspace epoch this set was made in (see `Keyspace.modify`). */
  epoch: number;
  readonly members: string[] = [];
  private readonly places = new Map<string, number>();

  constructor(epoch: number) {
    this.epoch = epoch;
  }

  get size(): number {
    return this.members.length;
  }

  has(member: string): boolean {
    return this.places.has(member);
  }

  /** Adds `member`; false when it was there already. */
  add(member: string): boolean {
    if (this.places.has(member)) return false;
    this.places.set(member, this.members.length);
    this.members.push(member);
    return true;
  }

  /** Removes `member`; false when it was not there. */
  delete(member: string): boolean {
    const place = this.places.get(member);
    if (place === undefined) return false;
    this.removeAt(place);
    return true;
  }

  /** Removes and returns the member at `place` (0 <= place < size). */
  removeAt(place: number): string {
    const member = this.members[place] as string;
    const last = this.members.pop() as string;
    this.places.delete(member);
    if (place < this.members.length) {
      this.members[place] = last;
      this.places.set(last, place);
    }
    return member;
  }

  clone(epoch: number): SetValue {
    const copy = new SetValue(epoch);
    for (const member of this.members) copy.add(member);
    return copy;
  }
}
