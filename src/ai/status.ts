/**
 * The agent's status beside its text: what a reply is doing, read from the UI message chunks it
 * streams (thinking, then writing or running a tool, then finished, stopped or failed), published
 * on each change as an ephemeral `status` publication on the chat's channel. On a channel whose
 * pattern sets `latest`, a viewer who opens the chat later gets the current status first
 * (`useLatest(channel, 'status')`, `sub.latest('status')`); elsewhere live viewers see it.
 */
import type { UIMessageChunk } from 'ai';
import type { Server } from '../server/types.js';

export type ChatState = 'thinking' | 'writing' | 'tool' | 'finished' | 'aborted' | 'failed';

/** The data of a `status` publication. */
export interface ChatStatus {
  state: ChatState;
  /** The reply's stream id. */
  stream: string;
  /** While `state` is 'tool': the tool that runs. */
  tool?: string;
}

export interface StatusReporter {
  /** Notes a chunk the reply streams; publishes when the status changes. */
  chunk(chunk: UIMessageChunk): void;
  /** The reply ended: its last status. */
  end(state: 'finished' | 'aborted' | 'failed'): Promise<void>;
}

/** A status per reply, published in order (each after the last has been taken). */
export function statusReporter(
  server: Server,
  channel: string,
  event: string,
  stream: string,
): StatusReporter {
  let current = '';
  let published: Promise<unknown> = Promise.resolve();
  const publish = (status: ChatStatus) => {
    const key = `${status.state}\u0000${status.tool ?? ''}`;
    if (key === current) return published;
    current = key;
    published = published
      .then(() => server.publish(channel, event, status, { ephemeral: true }))
      .catch((error: unknown) =>
        server.logger.warn({ err: error, channel, stream }, 'chat status not published'),
      );
    return published;
  };
  publish({ state: 'thinking', stream });
  return {
    chunk(chunk) {
      const state = stateAfter(chunk);
      if (state === 'tool' && 'toolName' in chunk) publish({ state, stream, tool: chunk.toolName });
      else if (state) publish({ state, stream });
    },
    end: async (state) => {
      await publish({ state, stream });
    },
  };
}

/** What a chunk says the reply is now doing; undefined when it says nothing new. */
function stateAfter(chunk: UIMessageChunk): ChatState | undefined {
  switch (chunk.type) {
    case 'text-start':
    case 'text-delta':
      return 'writing';
    case 'reasoning-start':
    case 'reasoning-delta':
      return 'thinking';
    case 'tool-input-start':
    case 'tool-input-available':
      return 'tool';
    // A tool's result is in: the model goes on thinking about it.
    case 'tool-output-available':
    case 'tool-output-error':
      return 'thinking';
    default:
      return undefined;
  }
}
