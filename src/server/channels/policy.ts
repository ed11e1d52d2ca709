import type { HistoryOptions, LatestOptions } from '../../broker/types.js';
import { ErrorCode, SwitchboardError } from '../../protocol/errors.js';
import { isReservedEvent, type StreamMarker } from '../../protocol/frames.js';
import { validate } from '../../shared/standard-schema.js';
import { DEFAULTS } from '../defaults.js';
import type {
  ChannelAction,
  ChannelHistoryOptions,
  ChannelOptions,
  Identity,
  Logger,
} from '../types.js';
import { type ChannelRule, compileChannels, matchChannel } from './rules.js';

/**
 * The channel policy: what a channel's rule allows and requires, resolved once per request. A
 * publish is turned into one plan (authorized, validated, ephemeral or kept, stream or not,
 * which history) that travels to the broker, so no later step looks the rule up again.
 */

/** A channel's history as the broker takes it: `ttlMs` defaults when the channel gives none. */
function kept(history: ChannelHistoryOptions): HistoryOptions {
  const { size, ttlMs = DEFAULTS.history.ttlMs } = history;
  return { size, ttlMs };
}

/** What a channel gives its streams: how long one may go quiet, and where its chunks are kept. */
export function streamSettings(
  options: ChannelOptions,
): { timeoutMs: number; history: HistoryOptions; compact: boolean } | undefined {
  const streams = options.streams;
  if (!streams) return undefined;
  const own = streams === true ? {} : streams;
  return {
    timeoutMs: own.timeoutMs ?? DEFAULTS.streams.timeoutMs,
    compact: own.compact ?? true,
    history: kept(options.history ?? own.history ?? DEFAULTS.streams.history),
  };
}

/** What a `latest` channel keeps, with the defaults; undefined when it keeps none. */
export function latestSettings(options: ChannelOptions): LatestOptions | undefined {
  const latest = options.latest;
  if (!latest) return undefined;
  const own = latest === true ? {} : latest;
  return {
    maxEvents: own.maxEvents ?? DEFAULTS.latest.maxEvents,
    ttlMs: own.ttlMs ?? DEFAULTS.latest.ttlMs,
  };
}

export interface PublishPlan {
  rule: ChannelRule;
  /** The data as the event's schema returned it. */
  data: unknown;
  ephemeral: boolean;
  /** Where the publication is kept (streams have their own default); undefined when not kept. */
  history: HistoryOptions | undefined;
  /** Kept as its event's latest value with these settings; undefined when not. */
  latest: LatestOptions | undefined;
}

export class ChannelPolicy {
  readonly #rules: ChannelRule[];

  constructor(
    channels: Record<string, ChannelOptions> | undefined,
    private readonly logger: Logger,
  ) {
    this.#rules = compileChannels(channels);
    // A bad cap would fail every publish on the channel (Redis refuses a fractional count):
    // refused here, once, naming the pattern.
    for (const { pattern, options } of this.#rules) {
      const latest = latestSettings(options);
      for (const [key, value] of Object.entries(latest ?? {}))
        if (!Number.isSafeInteger(value) || value < 1)
          throw new TypeError(`channels["${pattern}"].latest.${key} must be a positive integer`);
    }
  }

  /** The rule clients may use a channel under; undefined for unknown and reserved channels. */
  rule(channel: string): ChannelRule | undefined {
    return matchChannel(this.#rules, channel);
  }

  /** The channel's rule if `identity` may `action` it; NOT_FOUND or FORBIDDEN otherwise. */
  async authorize(
    identity: Identity,
    channel: string,
    action: ChannelAction,
  ): Promise<ChannelRule> {
    const rule = this.rule(channel);
    if (!rule) throw new SwitchboardError(ErrorCode.NOT_FOUND, `Unknown channel "${channel}"`);
    const check = rule.options.authorize;
    if (!check) return rule;
    let allowed: boolean;
    try {
      allowed = await check(identity, channel, action);
    } catch (error) {
      if (error instanceof SwitchboardError) throw error;
      this.logger.error({ err: error, channel, action }, 'authorize hook threw');
      throw new SwitchboardError(ErrorCode.INTERNAL, 'Internal error');
    }
    if (!allowed)
      throw new SwitchboardError(ErrorCode.FORBIDDEN, `Not allowed to ${action} "${channel}"`);
    return rule;
  }

  /** Checks the event against the channel's event list and schema; returns the (parsed) data. */
  async validateEvent(rule: ChannelRule, event: string, data: unknown): Promise<unknown> {
    if (isReservedEvent(event))
      throw new SwitchboardError(ErrorCode.BAD_FRAME, `"${event}" is a reserved event name`);
    const events = rule.options.events;
    if (!events) return data;
    if (!Object.hasOwn(events, event))
      throw new SwitchboardError(ErrorCode.UNKNOWN_EVENT, `Unknown event "${event}"`);
    const schema = events[event];
    if (!schema) return data;
    const result = await validate(schema, data);
    if (!result.ok) {
      throw new SwitchboardError(ErrorCode.VALIDATION_FAILED, `Invalid "${event}" payload`, {
        issues: result.issues,
      });
    }
    return result.value;
  }

  /** Whether an event skips history on this channel, by the rule's list or the caller's ask. */
  ephemeral(rule: ChannelRule | undefined, event: string, asked?: boolean): boolean {
    return asked === true || rule?.options.ephemeral?.includes(event) === true;
  }

  /** Where a publication on the channel is kept: stream chunks by the stream settings. */
  history(
    rule: ChannelRule | undefined,
    stream: StreamMarker | undefined,
  ): HistoryOptions | undefined {
    if (!rule) return undefined;
    if (stream) return streamSettings(rule.options)?.history;
    return rule.options.history && kept(rule.options.history);
  }

  /**
   * Whether a publication is kept as its event's latest value: on `latest` channels, but never a
   * stream chunk (a fragment of a reply, not a state) nor the server's own `$` events.
   */
  latest(
    rule: ChannelRule | undefined,
    event: string,
    stream: StreamMarker | undefined,
  ): LatestOptions | undefined {
    if (!rule?.options.latest || stream || event.startsWith('$')) return undefined;
    return latestSettings(rule.options);
  }

  /**
   * A client's publish, resolved: allowed to publish here, event and payload valid, and the
   * stream rules that hold for a marker (streams enabled, not ephemeral).
   */
  async planClientPublish(
    identity: Identity,
    channel: string,
    event: string,
    data: unknown,
    options: { ephemeral?: boolean | undefined; stream?: StreamMarker | undefined },
  ): Promise<PublishPlan> {
    const rule = await this.authorize(identity, channel, 'publish');
    if (rule.options.clientPublish === false)
      throw new SwitchboardError(ErrorCode.FORBIDDEN, 'Clients may not publish on this channel');
    const checked = await this.validateEvent(rule, event, data);
    const ephemeral = this.ephemeral(rule, event, options.ephemeral);
    if (options.stream) {
      if (!streamSettings(rule.options))
        throw new SwitchboardError(ErrorCode.FORBIDDEN, 'Streams are not enabled on this channel');
      if (ephemeral)
        throw new SwitchboardError(ErrorCode.BAD_FRAME, 'A stream chunk cannot be ephemeral');
    }
    return {
      rule,
      data: checked,
      ephemeral,
      history: this.history(rule, options.stream),
      latest: this.latest(rule, event, options.stream),
    };
  }
}
