/** How a failed Redis command is told to callers: UNAVAILABLE (nothing happened) or UNCERTAIN. */
import { ReplyError } from 'ioredis';
import { ErrorCode, SwitchboardError } from '../protocol/errors.js';

/** A command refused before it reached Redis, or one Redis answered with an error: nothing happened. */
export function unavailable(error: unknown): SwitchboardError {
  if (error instanceof SwitchboardError) return error;
  const reason = error instanceof Error ? error.message : String(error);
  return new SwitchboardError(ErrorCode.UNAVAILABLE, `Broker unavailable: ${reason}`);
}

/**
 * A publish that failed after it was handed to a ready connection may still run: it was written
 * to the socket, and ioredis may have written it again after a reconnect before giving up (its
 * "not writeable" error then says nothing of the first write). Only an error Redis itself
 * answered means it did not run.
 */
export function publishFailure(error: unknown): SwitchboardError {
  if (error instanceof SwitchboardError) return error;
  if (error instanceof ReplyError) return unavailable(error);
  const message = error instanceof Error ? error.message : String(error);
  return new SwitchboardError(
    ErrorCode.UNCERTAIN,
    `Broker did not confirm the publication (${message}); retry with the same idempotency key`,
  );
}
