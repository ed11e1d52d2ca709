import type { IncomingMessage, ServerResponse } from 'node:http';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { CloseCode } from '../protocol/close-codes.js';
import { DEFAULTS } from './defaults.js';
import { pathOf } from './http.js';
import type { MetricsOptions, ServerConnection, Tap } from './types.js';

export type { MetricsOptions };

/** Prometheus metrics of the gateway: the series, the tap that counts them, the scrape endpoint. */

/**
 * Prometheus metrics: counted through the Tap seam, served at one path (on the gateway's port, or
 * on one of their own with `metrics.port`: see side-ports.ts). Channel labels are the
 * configured *patterns* (or 'none'), never channel names, so the number of series stays bounded
 * however many channels exist. Gauges that can be read off the live server (connections,
 * subscriptions, queue bytes) are computed at scrape time rather than tracked on every frame.
 */
export function metricsPlugin(
  options: MetricsOptions,
  connections: () => Iterable<ServerConnection>,
  patternOf: (channel: string | undefined) => string,
): { tap: Tap; handler: (request: IncomingMessage, response: ServerResponse) => Promise<boolean> } {
  const path = options.path ?? DEFAULTS.metrics.path;
  const prefix = options.prefix ?? DEFAULTS.metrics.prefix;
  const registry = options.registry ?? new Registry();
  const registers = [registry];
  if (options.processMetrics) collectDefaultMetrics({ register: registry });

  new Gauge({
    name: `${prefix}connections`,
    help: 'Connections by state',
    labelNames: ['state'],
    registers,
    collect() {
      this.reset();
      for (const connection of connections()) this.inc({ state: connection.state });
    },
  });
  new Gauge({
    name: `${prefix}subscriptions`,
    help: 'Channel subscriptions held by connections of this node',
    registers,
    collect() {
      let total = 0;
      for (const connection of connections()) total += connection.subscriptions.size;
      this.set(total);
    },
  });
  new Gauge({
    name: `${prefix}send_queue_bytes`,
    help: 'Bytes waiting in connections’ send queues (sum and largest)',
    labelNames: ['stat'],
    registers,
    collect() {
      let sum = 0;
      let max = 0;
      for (const connection of connections()) {
        const queued = connection.bufferedAmount;
        sum += queued;
        if (queued > max) max = queued;
      }
      this.set({ stat: 'sum' }, sum);
      this.set({ stat: 'max' }, max);
    },
  });
  const messages = new Counter({
    name: `${prefix}messages_total`,
    help: 'Frames by direction and channel pattern',
    labelNames: ['direction', 'pattern'],
    registers,
  });
  const bytes = new Counter({
    name: `${prefix}bytes_total`,
    help: 'Bytes by direction and channel pattern',
    labelNames: ['direction', 'pattern'],
    registers,
  });
  const errors = new Counter({
    name: `${prefix}errors_total`,
    help: 'Error replies by code',
    labelNames: ['code'],
    registers,
  });
  const disconnects = new Counter({
    name: `${prefix}disconnects_total`,
    help: 'Closed connections by close code',
    labelNames: ['code'],
    registers,
  });
  const slowConsumers = new Counter({
    name: `${prefix}slow_consumer_disconnects_total`,
    help: 'Connections dropped because their send queue was full',
    registers,
  });
  const deliverLatency = new Histogram({
    name: `${prefix}publish_to_deliver_seconds`,
    help: 'From the broker accepting a publication to this node handing it to its subscribers',
    labelNames: ['pattern'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
    registers,
  });
  const brokerLatency = new Histogram({
    name: `${prefix}broker_publish_seconds`,
    help: 'Broker publish calls',
    labelNames: ['outcome'],
    buckets: [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1, 2],
    registers,
  });

  const tap: Tap = {
    inbound(_connection, raw, frames) {
      const first = frames?.[0] as { channel?: string } | undefined;
      const pattern = patternOf(first?.channel);
      messages.inc({ direction: 'in', pattern }, frames?.length ?? 1);
      bytes.inc({ direction: 'in', pattern }, raw.length);
    },
    outbound(_connection, raw, frame) {
      const pattern = patternOf((frame as { channel?: string }).channel);
      messages.inc({ direction: 'out', pattern });
      bytes.inc({ direction: 'out', pattern }, raw.length);
      if (frame.type === 'error') errors.inc({ code: frame.code });
    },
    close(_connection, code) {
      disconnects.inc({ code: String(code) });
      if (code === CloseCode.SLOW_CONSUMER) slowConsumers.inc();
    },
    publication(publication) {
      if (publication.channel.startsWith('$')) return;
      deliverLatency.observe(
        { pattern: patternOf(publication.channel) },
        Math.max(0, Date.now() - publication.time) / 1000,
      );
    },
    brokerPublish(_channel, seconds, ok) {
      brokerLatency.observe({ outcome: ok ? 'ok' : 'error' }, seconds);
    },
  };

  const handler = async (request: IncomingMessage, response: ServerResponse): Promise<boolean> => {
    if (request.method !== 'GET' || pathOf(request) !== path) return false;
    response.writeHead(200, { 'content-type': registry.contentType }).end(await registry.metrics());
    return true;
  };
  return { tap, handler };
}
