import type { Broker } from '../../broker/types.js';
import { PRESENCE_JOIN, PRESENCE_LEAVE, type PresenceMember } from '../../protocol/frames.js';
import type { Logger } from '../types.js';
import type { Publisher } from './publisher.js';

/**
 * Presence: who is subscribed to a presence-enabled channel, across nodes. Entries live in the
 * broker with a time to live that live nodes keep renewing, so a crashed node's members lapse;
 * joins and leaves are announced as ephemeral `$join` / `$leave` events.
 */
export class Presence {
  constructor(
    private readonly broker: Broker,
    private readonly publisher: Publisher,
    private readonly logger: Logger,
    /** Entries outlive a crashed node by at most this long. */
    readonly ttlMs: number,
  ) {}

  async join(channel: string, member: PresenceMember): Promise<void> {
    await this.broker.presenceAdd(channel, member, this.ttlMs);
    await this.publisher.publish(channel, PRESENCE_JOIN, member, { ephemeral: true });
  }

  leave(channel: string, member: PresenceMember): void {
    this.broker
      .presenceRemove(channel, member.connection)
      .then(() => this.publisher.publish(channel, PRESENCE_LEAVE, member, { ephemeral: true }))
      .catch((error) => this.logger.warn({ err: error, channel }, 'presence leave failed'));
  }

  /** A live connection renews its entries (every heartbeat). */
  refresh(entries: ReadonlyMap<string, PresenceMember>): void {
    for (const [channel, member] of entries) {
      this.broker
        .presenceAdd(channel, member, this.ttlMs)
        .catch((error) => this.logger.warn({ err: error, channel }, 'presence refresh failed'));
    }
  }

  async members(channel: string): Promise<PresenceMember[]> {
    try {
      return await this.broker.presence(channel);
    } catch (error) {
      throw this.publisher.failure(error, channel, 'broker presence failed');
    }
  }
}
