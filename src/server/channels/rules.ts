import { INTERNAL_CHANNELS } from '../defaults.js';
import type { ChannelOptions } from '../types.js';

/**
 * Channel patterns: compiled once, matched in declaration order (`*` is any run of characters).
 * Channels starting with `$` are the server's own and match no pattern.
 */

export interface ChannelRule {
  pattern: string;
  options: ChannelOptions;
  test(channel: string): boolean;
}

/** Channels starting with this are the server's own (per-user delivery); clients never touch them. */
export const RESERVED_PREFIX = '$';
/** Each user's own channel: direct messages and control events reach every node holding them. */
export const USER_CHANNEL_PREFIX = INTERNAL_CHANNELS.userPrefix;
/** Where nodes report their counts (an internal presence channel). */
export const NODES_CHANNEL = INTERNAL_CHANNELS.nodes;

function compile(pattern: string): (channel: string) => boolean {
  if (!pattern.includes('*')) return (channel) => channel === pattern;
  const escaped = pattern.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'));
  const regex = new RegExp(`^${escaped.join('.*')}$`, 's');
  return (channel) => regex.test(channel);
}

/** `*` matches any run of characters; the first pattern in declaration order wins. */
export function compileChannels(channels: Record<string, ChannelOptions> = {}): ChannelRule[] {
  return Object.entries(channels).map(([pattern, options]) => ({
    pattern,
    options,
    test: compile(pattern),
  }));
}

export function matchChannel(
  rules: readonly ChannelRule[],
  channel: string,
): ChannelRule | undefined {
  if (channel.startsWith(RESERVED_PREFIX)) return undefined;
  for (const rule of rules) if (rule.test(channel)) return rule;
  return undefined;
}
