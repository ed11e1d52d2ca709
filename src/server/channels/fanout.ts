import type { Broker, Publication, PublicationHandler } from '../../broker/types.js';
import { CloseCode } from '../../protocol/close-codes.js';
import type { Connection } from '../connection/host.js';
import type { ChannelCount, Logger, Tap } from '../types.js';
import type { Wire } from '../wire.js';
import { RESERVED_PREFIX, USER_CHANNEL_PREFIX } from './rules.js';

/**
 * Local fan-out: the node's subscribers per channel, one broker subscription per channel with
 * any, and each publication encoded once and written to every local subscriber.
 */

interface LocalChannel {
  connections: Set<Connection>;
  handler: PublicationHandler;
  ready: Promise<void>;
}

export class LocalChannels {
  readonly #local = new Map<string, LocalChannel>();

  constructor(
    private readonly broker: Broker,
    private readonly wire: Wire,
    private readonly taps: readonly Tap[],
    private readonly logger: Logger,
    /** Takes the server's control events (`$…`) on users' channels: they are not data. */
    private readonly control: (publication: Publication, connections: Set<Connection>) => void,
  ) {}

  /** Resolves once the broker delivers the channel's publications to this node. */
  join(connection: Connection, channel: string): Promise<void> {
    let entry = this.#local.get(channel);
    if (!entry) {
      const connections = new Set<Connection>();
      // One handler per local channel entry, so a late unsubscribe of an old entry can never
      // remove a newer one's subscription.
      const handler: PublicationHandler = (publication) => this.#fanOut(connections, publication);
      // Per-user channels carry only ephemeral direct messages: nothing there to resync.
      const onReset = channel.startsWith(USER_CHANNEL_PREFIX)
        ? undefined
        : () => this.#resync(channel, connections);
      const ready = this.broker.subscribe(channel, handler, onReset);
      entry = { connections, handler, ready };
      this.#local.set(channel, entry);
    }
    entry.connections.add(connection);
    return entry.ready;
  }

  leave(connection: Connection, channel: string): void {
    const entry = this.#local.get(channel);
    if (!entry?.connections.delete(connection) || entry.connections.size > 0) return;
    this.#local.delete(channel);
    this.broker
      .unsubscribe(channel, entry.handler)
      .catch((error) => this.logger.error({ err: error, channel }, 'broker unsubscribe failed'));
  }

  /** This node's subscribers of a channel (none: undefined). */
  connections(channel: string): ReadonlySet<Connection> | undefined {
    return this.#local.get(channel)?.connections;
  }

  /** Channels clients are subscribed to on this node, and how many. */
  counts(): ChannelCount[] {
    const counts: ChannelCount[] = [];
    for (const [channel, entry] of this.#local) {
      if (channel.startsWith(RESERVED_PREFIX) || entry.connections.size === 0) continue;
      counts.push({ channel, subscribers: entry.connections.size });
    }
    return counts;
  }

  /**
   * The broker could not replay what this node missed on a channel. Each subscriber reconnects
   * and resubscribes from its own position: recovered if the history has it, told of the gap if
   * not. Coarse, but it happens only when the shared store lost data.
   */
  #resync(channel: string, connections: Set<Connection>): void {
    this.logger.warn(
      { channel, connections: connections.size },
      'channel lost by the broker; resyncing subscribers',
    );
    for (const connection of [...connections]) connection.close(CloseCode.RESYNC, 'channel resync');
  }

  /** Encode once, write to every local subscriber: the per-subscriber cost is one socket write. */
  #fanOut(connections: Set<Connection>, publication: Publication): void {
    if (connections.size === 0) return;
    if (publication.event.startsWith('$') && publication.channel.startsWith(USER_CHANNEL_PREFIX))
      return this.control(publication, connections);
    const frame = this.wire.publicationFrame(publication);
    const raw = this.wire.encode(frame);
    for (const connection of connections) connection.deliver(publication, raw, frame);
    const taps = this.taps;
    if (taps.length) for (const tap of taps) tap.publication?.(publication, connections.size);
  }
}
