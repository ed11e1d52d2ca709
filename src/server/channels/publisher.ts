import type {
  Broker,
  CompactRun,
  HistoryOptions,
  LatestOptions,
  PublishResult,
} from '../../broker/types.js';
import { ErrorCode, SwitchboardError } from '../../protocol/errors.js';
import type { StreamMarker } from '../../protocol/frames.js';
import type { Logger, Tap } from '../types.js';
import type { ChannelPolicy } from './policy.js';

/**
 * The one way a publication reaches the broker, from every path (clients, `server.publish`,
 * streams, the HTTP API, presence events): the broker's failures typed one way, its timings told
 * to the taps.
 */

export interface PublishRequest {
  user?: string;
  exceptConnection?: string;
  idempotencyKey?: string;
  ephemeral?: boolean;
  stream?: StreamMarker;
  /** Where it is kept, when the caller resolved it already (a publish plan); else looked up. */
  history?: HistoryOptions | undefined;
  /** Kept as its event's latest value, when the caller resolved it already; else looked up. */
  latest?: LatestOptions | undefined;
  /** A stream's end that may replace its run of chunks in history (see `PublishOptions`). */
  compact?: CompactRun;
}

/** Tries of a publish whose outcome was UNCERTAIN, when the caller cannot retry (100 ms, 200 ms, …). */
const UNCERTAIN_RETRIES = 4;

export class Publisher {
  constructor(
    private readonly broker: Broker,
    private readonly taps: readonly Tap[],
    private readonly logger: Logger,
    private readonly policy: ChannelPolicy,
  ) {}

  async publish(
    channel: string,
    event: string,
    data: unknown,
    request: PublishRequest,
  ): Promise<PublishResult> {
    // Resolved by the caller (a publish plan), or looked up here once.
    const rule =
      'history' in request && 'latest' in request ? undefined : this.policy.rule(channel);
    const history =
      'history' in request ? request.history : this.policy.history(rule, request.stream);
    const latest =
      'latest' in request ? request.latest : this.policy.latest(rule, event, request.stream);
    const input = {
      event,
      data,
      ...(request.user !== undefined && { user: request.user }),
      ...(request.exceptConnection !== undefined && { exceptConnection: request.exceptConnection }),
      ...(request.stream !== undefined && { stream: request.stream }),
    };
    const taps = this.taps;
    const started = taps.length ? performance.now() : 0;
    try {
      const result = await this.broker.publish(channel, input, {
        ...(history && { history }),
        ...(request.idempotencyKey !== undefined && { idempotencyKey: request.idempotencyKey }),
        ...(request.ephemeral && { ephemeral: true }),
        ...(latest && { latest }),
        ...(request.compact && { compact: request.compact }),
      });
      if (taps.length) this.#timed(channel, started, true);
      return result;
    } catch (error) {
      if (taps.length) this.#timed(channel, started, false);
      throw this.failure(error, channel, 'broker publish failed');
    }
  }

  /**
   * For writers that cannot retry themselves (a stream's next write takes the next seq): an
   * UNCERTAIN publish is asked again with the same key, which applies it once, a few times.
   */
  async publishSurely(
    channel: string,
    event: string,
    data: unknown,
    request: PublishRequest & { idempotencyKey: string },
  ): Promise<PublishResult> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.publish(channel, event, data, request);
      } catch (error) {
        const uncertain = error instanceof SwitchboardError && error.code === ErrorCode.UNCERTAIN;
        if (!uncertain || attempt >= UNCERTAIN_RETRIES) throw error;
        await new Promise((resolve) => setTimeout(resolve, 100 * 2 ** attempt));
      }
    }
  }

  /**
   * What a broker's failure becomes for the caller: its own typed error (UNAVAILABLE, a refusal;
   * UNCERTAIN, maybe published) or, for anything else, UNAVAILABLE with the cause logged here.
   */
  failure(error: unknown, channel: string, what: string): SwitchboardError {
    if (error instanceof SwitchboardError) return error;
    this.logger.error({ err: error, channel }, what);
    return new SwitchboardError(ErrorCode.UNAVAILABLE, 'Broker unavailable; retry');
  }

  #timed(channel: string, started: number, ok: boolean): void {
    const seconds = (performance.now() - started) / 1000;
    for (const tap of this.taps) tap.brokerPublish?.(channel, seconds, ok);
  }
}
