import { describe, expect, it } from 'vitest';
import { CloseCode } from '../../src/protocol/index.js';
import { connected, scrapeMetrics, startServer, waitFor } from '../helpers.js';

const scrape = scrapeMetrics;

describe('metrics', () => {
  it('are off unless asked for', async () => {
    const { port } = await startServer();
    expect((await fetch(`http://127.0.0.1:${port}/metrics`)).status).toBe(404);
  });

  it('count connections, subscriptions, traffic by pattern, errors, disconnects and latencies', async () => {
    const { url, port, server } = await startServer({
      metrics: true,
      channels: { 'chat:*': {}, 'news:*': {} },
    });
    const [alice, bob] = await Promise.all([connected(url, 'alice'), connected(url, 'bob')]);
    await bob.subscribe('chat:a').ready();
    await bob.subscribe('news:b').ready();
    await alice.publish('chat:a', 'm', 'x'.repeat(100));
    await server.publish('news:b', 'n', 1);
    await alice.publish('nowhere', 'm', 1).catch(() => {});

    const m = await scrape(port);
    expect(m.get('switchboard_connections{state="open"}')).toBe(2);
    expect(m.get('switchboard_subscriptions')).toBe(2);
    expect(
      m.get('switchboard_messages_total{direction="in",pattern="chat:*"}'),
    ).toBeGreaterThanOrEqual(2);
    expect(m.get('switchboard_messages_total{direction="out",pattern="news:*"}')).toBe(1);
    expect(m.get('switchboard_bytes_total{direction="in",pattern="chat:*"}')).toBeGreaterThan(100);
    expect(m.get('switchboard_errors_total{code="NOT_FOUND"}')).toBe(1);
    expect(m.get('switchboard_publish_to_deliver_seconds_count{pattern="chat:*"}')).toBe(1);
    expect(m.get('switchboard_broker_publish_seconds_count{outcome="ok"}')).toBeGreaterThanOrEqual(
      2,
    );
    expect(m.get('switchboard_send_queue_bytes{stat="sum"}')).toBe(0);
    // No channel name ever becomes a label: the series stay bounded by the configured patterns.
    expect([...m.keys()].some((k) => k.includes('chat:a'))).toBe(false);

    server.disconnectUser('alice');
    await waitFor(
      async () =>
        (await scrape(port)).get(
          `switchboard_disconnects_total{code="${CloseCode.DISCONNECTED_BY_SERVER}"}`,
        ) === 1,
    );
    expect((await scrape(port)).get('switchboard_connections{state="open"}')).toBe(1);
  });

  it('move to a port of their own with metrics.port; the gateway port no longer serves them', async () => {
    const { server, port, url } = await startServer({ metrics: { port: 0 } });
    const address = await server.listen();
    expect(address.metrics).toMatchObject({ host: '127.0.0.1', port: expect.any(Number) });
    expect((await fetch(`http://127.0.0.1:${port}/metrics`)).status).toBe(404);
    await connected(url, 'alice');
    const m = await scrape(address.metrics!.port);
    expect(m.get('switchboard_connections{state="open"}')).toBe(1);
    const other = await fetch(`${address.metrics!.url}/elsewhere`);
    expect(other.status).toBe(404);
  });
});
