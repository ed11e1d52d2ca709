import type { HistoryOptions } from '../broker/types.js';
import type { StandardSchemaV1 } from '../shared/standard-schema.js';
import type { Identity } from './auth.js';
import type { ServerConnection } from './connection.js';

export type ChannelAction = 'subscribe' | 'publish' | 'presence' | 'history';

export interface ChannelOptions {
  /** Return false to refuse with FORBIDDEN. Without it, every authenticated identity may act. */
  authorize?: (
    identity: Identity,
    channel: string,
    action: ChannelAction,
  ) => boolean | Promise<boolean>;
  /**
   * The events clients may publish here, each with an optional Standard Schema (zod, valibot,
   * arktype…). Without this map any event is accepted; with it, others get UNKNOWN_EVENT.
   */
  events?: Record<string, StandardSchemaV1 | null>;
  /** Whether clients may publish at all (the server always may). Default true. */
  clientPublish?: boolean;
  /** Keep recent publications for recovery after reconnects. Default: none kept. */
  history?: HistoryOptions;
  /**
   * Track who is subscribed: `$join`/`$leave` events and `sub.presence()`. `info` adds app data
   * to each member (a display name, an avatar) — taken from the server side, never the client.
   */
  presence?: boolean | { info?: (identity: Identity, connection: ServerConnection) => unknown };
  /** Events delivered to current subscribers only, never kept or replayed (e.g. `['typing']`). */
  ephemeral?: string[];
  /**
   * Allow streams (ordered chunks with an end marker). A late subscriber first receives what
   * streams in progress have produced. Without `history`, stream chunks are kept by `history`
   * below so late subscribers and reconnects can catch up.
   */
  streams?: boolean | { timeoutMs?: number; history?: HistoryOptions };
}

export interface ChannelRule {
  pattern: string;
  options: ChannelOptions;
  test(channel: string): boolean;
}

/** Channels starting with this are the server's own (per-user delivery); clients never touch them. */
export const RESERVED_PREFIX = '$';

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
