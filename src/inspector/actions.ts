/**
 * The panel's actions on what it inspects: replay a captured client frame (on its live connection,
 * or, behind the proxy, on a new one), send a frame to a client, close a connection, publish to a
 * channel. Each answers with one result message.
 */
import { randomUUID } from 'node:crypto';
import type { Target } from './capture.js';
import type { InspectorStore } from './store.js';

export type ActionResult =
  | { type: 'result'; ok: boolean; action: unknown; connection?: string }
  | { type: 'result'; ok: false; action?: unknown; error: string };

/**
 * A Switchboard `publish` frame (or batch) with a fresh idempotency key: replayed with its
 * original key inside the server's window, it would be silently deduplicated and publish nothing.
 * Anything else (other protocols, text that is not JSON) is returned as it is.
 */
export function freshKeys(text: string): string {
  if (!text.includes('"publish"') || !text.includes('"key"')) return text;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return text;
  }
  let changed = false;
  const freshen = (frame: unknown) => {
    if (typeof frame !== 'object' || frame === null) return frame;
    const f = frame as Record<string, unknown>;
    if (f['type'] !== 'publish' || typeof f['key'] !== 'string' || typeof f['channel'] !== 'string')
      return frame;
    changed = true;
    return { ...f, key: `replay-${randomUUID()}` };
  };
  const out = Array.isArray(parsed) ? parsed.map(freshen) : freshen(parsed);
  return changed ? JSON.stringify(out) : text;
}

export async function act(
  store: InspectorStore,
  target: Target,
  enabled: boolean,
  message: Record<string, unknown>,
): Promise<ActionResult> {
  if (!enabled)
    return {
      type: 'result',
      ok: false,
      error: 'Actions are disabled: enable them with `actions: true` and a credential',
    };
  const connection = String(message['connection'] ?? '');
  let ok = false;
  switch (message['action']) {
    case 'replay': {
      const frame = store.replayable(Number(message['seq']));
      if (!frame)
        return {
          type: 'result',
          ok: false,
          action: 'replay',
          error: 'Only a client frame kept whole (not cut at capture) can be replayed',
        };
      // A fresh idempotency key unless asked to repeat the original (then the server drops it).
      const data =
        typeof frame.data === 'string' && message['repeatKey'] !== true
          ? freshKeys(frame.data)
          : frame.data;
      if (message['where'] === 'new') {
        if (!target.replayNew)
          return {
            type: 'result',
            ok: false,
            action: 'replay',
            error: 'Replay on a new connection needs the proxy (inspectProxy)',
          };
        const opened = await target.replayNew(frame.connection, data);
        return opened === undefined
          ? {
              type: 'result',
              ok: false,
              action: 'replay',
              error: 'Could not open a new connection',
            }
          : { type: 'result', ok: true, action: 'replay', connection: opened };
      }
      ok = target.replay(frame.connection, data);
      break;
    }
    case 'send':
      ok = target.send(connection, String(message['text'] ?? ''));
      break;
    case 'close':
      ok = target.close(
        connection,
        Number(message['code'] ?? 1000),
        String(message['reason'] ?? 'closed from the inspector'),
      );
      break;
    case 'publish':
      if (!target.publish) break;
      await target.publish(String(message['channel']), String(message['event']), message['data']);
      ok = true;
      break;
  }
  return { type: 'result', ok, action: message['action'] };
}
