/**
 * A Redis hash: fields (binary-safe latin1 strings) to values (byte arrays that are never changed
 * in place, so a copy of the map is a copy of the hash). Field order is insertion order, the same
 * on every replica.
 */
export class HashValue {
  readonly type = "hash";
  /** The keyspace epoch this hash was made in (see `Keyspace.modify`). */
  epoch: number;
  readonly fields: Map<string, Uint8Array>;

  constructor(epoch: number, fields = new Map<string, Uint8Array>()) {
    this.epoch = epoch;
    this.fields = fields;
  }

  get size(): number {
    return this.fields.size;
  }

  clone(epoch: number): HashValue {
    return new HashValue(epoch, new Map(this.fields));
  }
}
