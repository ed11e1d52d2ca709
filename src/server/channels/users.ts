import type { Broker } from '../../broker/types.js';
import { CloseCode } from '../../protocol/close-codes.js';
import { isReservedEvent } from '../../protocol/frames.js';
import type { Connection } from '../connection/host.js';
import type { Limits } from '../limits.js';
import type { Identity, Logger } from '../types.js';
import { DISCONNECT_EVENT, type LocalChannels } from './fanout.js';
import type { Publisher } from './publisher.js';
import { USER_CHANNEL_PREFIX } from './rules.js';

/**
 * Each user's own channel, joined by every connection of the user on every node: how a direct
 * message or a disconnect reaches all of a user's connections, and how connections per user are
 * counted.
 */
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
  async disconnectEverywhere(
    userId: string,
    code: number = CloseCode.DISCONNECTED_BY_SERVER,
    reason = 'disconnected',
  ): Promise<void> {
    try {
      await this.broker.publish(
        USER_CHANNEL_PREFIX + userId,
        { event: DISCONNECT_EVENT, data: { code, reason } },
        { ephemeral: true },
      );
    } catch (error) {
      throw this.publisher.failure(error, USER_CHANNEL_PREFIX + userId, 'broker publish failed');
    }
  }
}
