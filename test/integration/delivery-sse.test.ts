// The delivery suite (recovery, exactly once at the edges, presence, ephemeral events, streams,
// a broker briefly unavailable) again, every client over the HTTP transport (SSE + POST).
import { expect, it } from 'vitest';
import { connected, forceTransport, startServer } from '../helpers.js';

forceTransport('sse');
await import('./delivery.test.js');

it('runs its clients over SSE', async () => {
  const { url } = await startServer();
  expect((await connected(url)).transport).toBe('sse');
});
