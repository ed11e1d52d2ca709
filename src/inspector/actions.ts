/**
 * The panel's actions on what it inspects: replay a captured client frame, send a frame to a
 * client, close a connection, publish to a channel. Each answers with one result message.
 */
import type { Target } from './capture.js';
import type { InspectorStore } from './store.js';

export type ActionResult =
  | { type: 'result'; ok: boolean; action: unknown }
  | { type: 'result'; ok: false; error: string };

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
      const frame = store.frame(Number(message['seq']));
      ok =
        frame?.direction === 'in' &&
        frame.text !== undefined &&
        target.replay(frame.connection, frame.text);
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
