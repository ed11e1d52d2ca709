import { spawnSync } from 'node:child_process';
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { redisCluster, redisProcess, tcpProxy } from './faults.js';
import { onCleanup, sleep, waitFor } from './helpers.js';

/** These helpers run redis-server themselves: a Redis in a container is not enough. */
const canRunRedis = (() => {
  const found =
    spawnSync('redis-server', ['--version']).status === 0 &&
    spawnSync('redis-cli', ['--version']).status === 0;
  if (!found && process.env.CI) throw new Error('CI needs the redis-server and redis-cli binaries');
  if (!found) console.log('Skipping the fault helper tests: no redis-server/redis-cli on PATH');
  return found;
})();

function redis(
  url: string,
  options: Pick<RedisOptions, 'autoResubscribe' | 'commandTimeout' | 'retryStrategy'> = {},
): Redis {
  const r = new Redis(url, { maxRetriesPerRequest: 1, ...options });
  r.on('error', () => {});
  onCleanup(() => r.disconnect());
  return r;
}

describe.skipIf(!canRunRedis)('fault injection helpers', () => {
  it('rdb: a kill keeps what the snapshot holds and loses what came after', async () => {
    const server = await redisProcess({ persistence: 'rdb' });
    await server.command('SET', 'before', '1');
    await server.snapshot();
    await server.command('SET', 'after', '2');
    await server.kill();
    await expect(server.command('PING')).rejects.toThrow();
    await server.start();
    expect(await server.command('GET', 'before')).toBe('1');
    expect(await server.command('GET', 'after')).toBeNull();
  });

  it('aof (fsync always): a kill keeps every acknowledged write', async () => {
    const server = await redisProcess({ persistence: 'aof' });
    await server.command('SET', 'one', '1');
    await server.command('SET', 'two', '2');
    await server.kill();
    await server.start();
    expect(await server.command('MGET', 'one', 'two')).toEqual(['1', '2']);
  });

  it('none: a restart comes back empty; pubsub clients can be killed', async () => {
    const server = await redisProcess();
    const subscriber = redis(server.url, { autoResubscribe: false });
    await subscriber.subscribe('x');
    expect(await server.killPubsubClients()).toBe(1);
    await server.command('SET', 'k', 'v');
    await server.kill();
    await server.start();
    expect(await server.command('DBSIZE')).toBe(0);
  });

  it('pause: commands go unanswered (and time out); resume answers them', async () => {
    const server = await redisProcess();
    const impatient = redis(server.url, { commandTimeout: 300 });
    const patient = redis(server.url);
    await Promise.all([impatient.ping(), patient.ping()]);
    server.pause();
    const waiting = patient.set('k', 'v');
    await expect(impatient.get('k')).rejects.toThrow('Command timed out');
    server.resume();
    expect(await waiting).toBe('OK');
    expect(await impatient.get('k')).toBe('v');
  });

  it('cluster: three masters serve keys of every slot through an ioredis Cluster', async () => {
    const cluster = await redisCluster();
    const client = new Cluster(cluster.nodes, { clusterRetryStrategy: () => null });
    client.on('error', () => {});
    onCleanup(() => client.disconnect());
    const keys = Array.from({ length: 30 }, (_, i) => `key:${i}`);
    for (const key of keys) await client.set(key, key.toUpperCase());
    for (const key of keys) expect(await client.get(key)).toBe(key.toUpperCase());
    // The keys are spread over all three nodes.
    const sizes = await Promise.all(cluster.ports.map((port) => cluster.command(port, 'DBSIZE')));
    expect(sizes.every((size) => Number(size) > 0)).toBe(true);
    expect(sizes.reduce((sum: number, size) => sum + Number(size), 0)).toBe(keys.length);
  });

  it('proxy: cut drops the link and ioredis reconnects; refuse and blackhole hold it off', async () => {
    const server = await redisProcess();
    const proxy = await tcpProxy(server.port);
    const client = redis(proxy.url(), { retryStrategy: () => 20, commandTimeout: 1_000 });
    const events: string[] = [];
    for (const event of ['ready', 'close', 'reconnecting'])
      client.on(event, () => events.push(event));
    expect(await client.ping()).toBe('PONG');
    expect(proxy.connections).toBe(1);

    proxy.cut();
    await waitFor(() => events.filter((e) => e === 'ready').length === 2, 3_000, 'reconnect');
    expect(events).toEqual(['ready', 'close', 'reconnecting', 'ready']);
    expect(await client.ping()).toBe('PONG');

    const closes = events.filter((e) => e === 'close').length;
    const accepting = proxy.refuse(300);
    await waitFor(() => events.filter((e) => e === 'close').length > closes, 1_000, 'close');
    await sleep(100);
    expect(client.status).not.toBe('ready'); // reconnect attempts are refused meanwhile
    await accepting;
    await waitFor(() => client.status === 'ready', 3_000, 'ready after refusal');

    proxy.blackhole();
    await expect(client.ping()).rejects.toThrow('Command timed out');
    proxy.heal();
    expect(await client.ping()).toBe('PONG');
  });
});
