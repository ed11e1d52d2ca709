import type { Broker, Publication } from '../../broker/types.js';
import { CloseCode } from '../../protocol/close-codes.js';
import { isReservedEvent } from '../../protocol/frames.js';
import type { Connection } from '../connection/host.js';
import { reauthorize } from '../connection/subscribe.js';
import type { Limits } from '../limits.js';
import type { Identity, Logger } from '../types.js';
import type { LocalChannels } from './fanout.js';
import type { Publisher } from './publisher.js';
import { USER_CHANNEL_PREFIX } from './rules.js';

/**
 * Each user's own channel, joined by every connection of the user on every node: how a direct
 * message or a disconnect reaches all of a user's connections, and how connections per user are
 * counted.
 */
/** Sent on a user's channel to make every node close that user's connections. */
export const DISCONNECT_EVENT = '$disconnect';
/** Sent on a user's channel to make every node check that user's subscriptions again. */
export const REAUTHORIZE_EVENT = '$reauthorize';

export class Users {
  constructor(
    private readonly local: LocalChannels,
    private readonly publisher: Publisher,
    private readonly broker: Broker,
    private readonly limits: Limits,
    private readonly logger: Logger,
  ) {}

  /** Counts the user's connection in, or returns false when the per-user limit is reached. */
  admit(connection: Connection, identity: Identity): boolean {
    if (identity.anonymous) return true;
    const channel = USER_CHANNEL_PREFIX + identity.userId;
    const existing = this.local.connections(channel)?.size ?? 0;
    if (existing >= this.limits.maxConnectionsPerUser) return false;
    this.local
      .join(connection, channel)
      .catch((error) => this.logger.error({ err: error, channel }, 'broker subscribe failed'));
    return true;
  }

  release(connection: Connection): void {
    const identity = connection.identity;
    if (identity && !identity.anonymous)
      this.local.leave(connection, USER_CHANNEL_PREFIX + identity.userId);
  }

  async send(userId: string, event: string, data: unknown): Promise<void> {
    // Reserved names are the server's control events: data must never pass for one.
    if (isReservedEvent(event)) throw new TypeError(`"${event}" is a reserved event name`);
    await this.publisher.publish(USER_CHANNEL_PREFIX + userId, event, data, { ephemeral: true });
  }

  /** Closes the user's connections on this node; how many. */
  disconnectHere(
    userId: string,
    code: number = CloseCode.DISCONNECTED_BY_SERVER,
    reason = 'disconnected',
  ): number {
    const connections = [...(this.local.connections(USER_CHANNEL_PREFIX + userId) ?? [])];
    for (const connection of connections) connection.close(code, reason);
    return connections.length;
  }

  /** Closes the user's connections on every node, through the broker. */
  disconnectEverywhere(
    userId: string,
    code: number = CloseCode.DISCONNECTED_BY_SERVER,
    reason = 'disconnected',
  ): Promise<void> {
    return this.#tell(userId, DISCONNECT_EVENT, { code, reason });
  }

  /** Checks the user's subscriptions again on every node: those no longer allowed end. */
  reauthorizeEverywhere(userId: string): Promise<void> {
    return this.#tell(userId, REAUTHORIZE_EVENT, null);
  }

  /** A control event on a user's channel, as every node holding that user's connections gets it. */
  control(publication: Publication, connections: ReadonlySet<Connection>): void {
    if (publication.event === DISCONNECT_EVENT) {
      const { code, reason } = publication.data as { code: number; reason: string };
      for (const connection of [...connections]) connection.close(code, reason);
    } else if (publication.event === REAUTHORIZE_EVENT) {
      for (const connection of connections) {
        reauthorize(connection).catch((error) =>
          this.logger.error({ err: error, connection: connection.id }, 'reauthorize failed'),
        );
      }
    }
  }

  async #tell(userId: string, event: string, data: unknown): Promise<void> {
    const channel = USER_CHANNEL_PREFIX + userId;
    try {
      await this.broker.publish(channel, { event, data }, { ephemeral: true });
    } catch (error) {
      throw this.publisher.failure(error, channel, 'broker publish failed');
    }
  }
}
