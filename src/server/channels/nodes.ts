import type { Broker } from '../../broker/types.js';
import { DEFAULTS } from '../defaults.js';
import type { ChannelCount, ClusterChannels, Logger } from '../types.js';
import { NODES_CHANNEL } from './rules.js';

/**
 * Node reports: each node publishes its connection and channel counts as its presence entry on
 * an internal channel, so any node can answer for the cluster; a dead node's report lapses.
 */

/** What each node reports about itself on the internal `$nodes` presence channel. */
interface NodeReport {
  connections: number;
  channels: [string, number][];
}

/** A node reports its busiest channels only, so a report stays small however many it has. */
const MAX_REPORTED_CHANNELS = 1000;

export class NodeReports {
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(
    private readonly broker: Broker,
    private readonly logger: Logger,
    private readonly nodeId: string,
    /** How often; 0 never. */
    private readonly everyMs: number,
    private readonly local: () => { connections: number; channels: ChannelCount[] },
  ) {
    if (everyMs > 0) {
      this.#timer = setInterval(() => this.#report(), everyMs);
      this.#timer.unref?.();
    }
  }

  #now(): NodeReport {
    const { connections, channels } = this.local();
    const busiest = channels
      .sort((a, b) => b.subscribers - a.subscribers)
      .slice(0, MAX_REPORTED_CHANNELS)
      .map(({ channel, subscribers }): [string, number] => [channel, subscribers]);
    return { connections, channels: busiest };
  }

  #report(): void {
    const member = { user: '', connection: this.nodeId, info: this.#now() };
    this.broker
      .presenceAdd(NODES_CHANNEL, member, this.everyMs * DEFAULTS.server.nodeReportTtlReports)
      .catch((error) => this.logger.warn({ err: error }, 'node report failed'));
  }

  /** Every node's counts, summed: others' as of their last report, this node's live. */
  async cluster(): Promise<ClusterChannels> {
    const reports = new Map<string, NodeReport>();
    if (this.everyMs > 0) {
      for (const member of await this.broker.presence(NODES_CHANNEL))
        reports.set(member.connection, member.info as NodeReport);
    }
    reports.set(this.nodeId, this.#now());
    const totals = new Map<string, number>();
    let connections = 0;
    for (const report of reports.values()) {
      connections += report.connections;
      for (const [channel, count] of report.channels)
        totals.set(channel, (totals.get(channel) ?? 0) + count);
    }
    const channels = [...totals]
      .map(([channel, subscribers]) => ({ channel, subscribers }))
      .sort((a, b) => b.subscribers - a.subscribers);
    return { nodes: reports.size, connections, channels };
  }

  /** Stops reporting and withdraws this node's report. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    if (this.everyMs > 0)
      await this.broker.presenceRemove(NODES_CHANNEL, this.nodeId).catch(() => {});
  }
}
