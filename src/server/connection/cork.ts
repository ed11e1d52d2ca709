/**
 * Connections whose socket is corked until the current tick ends. `ws` hands every message to the
 * kernel in its own writev; a fan-out, or the replies to a batch of requests, would make one
 * syscall per frame per connection. Corked, everything a connection is sent in one tick leaves in
 * one writev, in the same order. One nextTick for all of them, not one closure per message.
 */

interface Corked {
  /** Uncorks: hands what this tick queued on the socket to the kernel. */
  flushWrites(): void;
}

let corked: Corked[] = [];
let uncorkScheduled = false;

function uncorkAll(): void {
  const list = corked;
  corked = [];
  uncorkScheduled = false;
  for (const connection of list) connection.flushWrites();
}

/** For a connection that just corked its socket: uncork it when this tick's work is done. */
export function uncorkAtTickEnd(connection: Corked): void {
  corked.push(connection);
  if (!uncorkScheduled) {
    uncorkScheduled = true;
    process.nextTick(uncorkAll);
  }
}
