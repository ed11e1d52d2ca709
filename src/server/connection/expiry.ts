/**
 * When credentials expire: one timer for every connection of the process, armed for the earliest
 * expiry, over a min-heap of the connections that have one. A timer per connection (with its
 * closures) cost a few hundred bytes on every idle connection; here each costs two numbers and
 * a slot in one array. Tokens may outlive what setTimeout can count: the timer then re-arms in
 * steps until the real moment.
 */

const MAX_TIMER_MS = 2 ** 31 - 1;

/** What the queue needs of a connection. */
export interface Expiring {
  /** When it expires (ms since the epoch); read only while queued. */
  expiryAt: number;
  /** Its place in the queue; -1 when not queued. */
  expiryIndex: number;
  /** Its credential has expired. */
  expire(): void;
}

const queue: Expiring[] = [];
let timer: ReturnType<typeof setTimeout> | undefined;
/** The moment the timer is armed for; Infinity when it is not. */
let timerAt = Number.POSITIVE_INFINITY;

/** Queues `item` to expire at `at`, replacing its previous moment; undefined: never. */
export function expireAt(item: Expiring, at: number | undefined): void {
  if (item.expiryIndex >= 0) remove(item);
  if (at !== undefined) {
    item.expiryAt = at;
    item.expiryIndex = queue.length;
    queue.push(item);
    up(item.expiryIndex);
  }
  arm();
}

/** How many connections wait for their expiry (for tests). */
export function queuedExpiries(): number {
  return queue.length;
}

function arm(): void {
  const first = queue[0];
  const at = first ? first.expiryAt : Number.POSITIVE_INFINITY;
  if (at === timerAt) return;
  clearTimeout(timer);
  timer = undefined;
  timerAt = at;
  if (!first) return;
  timer = setTimeout(fire, Math.min(Math.max(0, at - Date.now()), MAX_TIMER_MS));
  // A pending expiry alone must not keep the process alive.
  timer.unref?.();
}

function fire(): void {
  timer = undefined;
  timerAt = Number.POSITIVE_INFINITY;
  const now = Date.now();
  while (queue.length > 0 && queue[0]!.expiryAt <= now) {
    const item = queue[0]!;
    remove(item);
    item.expire();
  }
  arm();
}

function remove(item: Expiring): void {
  const index = item.expiryIndex;
  item.expiryIndex = -1;
  const last = queue.pop()!;
  if (last === item) return;
  queue[index] = last;
  last.expiryIndex = index;
  up(index);
  down(last.expiryIndex);
}

function swap(a: number, b: number): void {
  const x = queue[a]!;
  const y = queue[b]!;
  queue[a] = y;
  queue[b] = x;
  y.expiryIndex = a;
  x.expiryIndex = b;
}

function up(index: number): void {
  let i = index;
  while (i > 0) {
    const parent = (i - 1) >> 1;
    if (queue[parent]!.expiryAt <= queue[i]!.expiryAt) return;
    swap(i, parent);
    i = parent;
  }
}

function down(index: number): void {
  let i = index;
  for (;;) {
    const left = 2 * i + 1;
    const right = left + 1;
    let smallest = i;
    if (left < queue.length && queue[left]!.expiryAt < queue[smallest]!.expiryAt) smallest = left;
    if (right < queue.length && queue[right]!.expiryAt < queue[smallest]!.expiryAt)
      smallest = right;
    if (smallest === i) return;
    swap(i, smallest);
    i = smallest;
  }
}
