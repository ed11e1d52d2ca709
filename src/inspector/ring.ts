/** A fixed-capacity ring: pushing into a full one overwrites the oldest, in O(1). */
export class Ring<T> {
  private items: (T | undefined)[];
  private head = 0;
  length = 0;

  constructor(private readonly capacity: number) {
    this.items = new Array(Math.min(capacity, 16));
  }

  /** Returns the item pushed out, if the ring was full. */
  push(item: T): T | undefined {
    if (this.length < this.capacity) {
      if (this.length === this.items.length) this.grow();
      this.items[(this.head + this.length) % this.items.length] = item;
      this.length++;
      return undefined;
    }
    const evicted = this.items[this.head];
    this.items[this.head] = item;
    this.head = (this.head + 1) % this.items.length;
    return evicted;
  }

  shift(): T | undefined {
    if (this.length === 0) return undefined;
    const item = this.items[this.head];
    this.items[this.head] = undefined;
    this.head = (this.head + 1) % this.items.length;
    this.length--;
    return item;
  }

  *[Symbol.iterator](): IterableIterator<T> {
    for (let i = 0; i < this.length; i++) yield this.items[(this.head + i) % this.items.length]!;
  }

  private grow(): void {
    const size = Math.min(this.capacity, this.items.length * 2);
    const next: (T | undefined)[] = new Array(size);
    for (let i = 0; i < this.length; i++) next[i] = this.items[(this.head + i) % this.items.length];
    this.items = next;
    this.head = 0;
  }
}
