/** Presence, kept in memory only (it is ephemeral): who is in each channel, until it lapses. */

import type { PresenceMember } from '../broker/types.js';

export class Presence {
  /** connection → member and when the entry lapses unless refreshed, per channel. */
  private readonly channels = new Map<
    string,
    Map<string, { member: PresenceMember; expiresAt: number }>
  >();

  add(channel: string, member: PresenceMember, ttlMs: number): void {
    let members = this.channels.get(channel);
    if (!members) this.channels.set(channel, (members = new Map()));
    members.set(member.connection, { member, expiresAt: Date.now() + ttlMs });
  }

  remove(channel: string, connection: string): void {
    const members = this.channels.get(channel);
    if (!members) return;
    members.delete(connection);
    if (members.size === 0) this.channels.delete(channel);
  }

  list(channel: string): PresenceMember[] {
    const members = this.channels.get(channel);
    if (!members) return [];
    const now = Date.now();
    const list: PresenceMember[] = [];
    for (const entry of members.values()) if (entry.expiresAt > now) list.push(entry.member);
    return list;
  }

  /** Somebody is (or was, until upkeep drops the lapsed entries) present in the channel. */
  has(channel: string): boolean {
    return this.channels.has(channel);
  }

  /** Drops the lapsed entries, and channels left with nobody. */
  expire(now: number): void {
    for (const [channel, members] of this.channels) {
      for (const [connection, entry] of members)
        if (entry.expiresAt <= now) members.delete(connection);
      if (members.size === 0) this.channels.delete(channel);
    }
  }

  clear(): void {
    this.channels.clear();
  }
}
