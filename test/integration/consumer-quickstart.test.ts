import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Consumer, createConsumer, readmeQuickstart } from './consumer.js';

/**
 * The README's "Ten lines that run", copied into an empty project where the packed package is
 * the only thing installed: no `ws` of its own, no WebSocket option, and it must exit by itself.
 */
let consumer: Consumer;

describe("README's quickstart in an empty project", () => {
  beforeAll(async () => {
    consumer = await createConsumer('quickstart');
    await consumer.install(consumer.tarball);
  }, 300_000);

  afterAll(async () => {
    await consumer?.remove();
  });

  // Node 20 has no global WebSocket; later versions do unless it is turned off, which shows the
  // `ws` fallback works there too.
  const runs: [string, string[]][] = [['as installed', []]];
  if (process.allowedNodeEnvironmentFlags.has('--no-experimental-websocket'))
    runs.push(['with no global WebSocket', ['--no-experimental-websocket']]);

  it.each(runs)(
    'runs with node %s, prints what the README says and exits 0',
    async (_, flags) => {
      const started = Date.now();
      const { stdout, stderr } = await consumer.node('quickstart.mjs', readmeQuickstart(), flags);
      expect(stderr).toBe('');
      expect(stdout).toContain('alice says hello');
      expect(stdout).toMatch(/server time: \d{4}-\d\d-\d\dT/);
      // It exits by itself (the run's timeout is 15 s): the client and the server are closed.
      expect(Date.now() - started).toBeLessThan(10_000);
    },
    30_000,
  );
});
