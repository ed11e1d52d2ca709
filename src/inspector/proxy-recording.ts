/**
 * How the proxy records what its tunnels read: a data message (text described as Switchboard
 * frames when it is JSON, binary, or compressed and unread) or a control frame, into the store.
 */
import { describeCut, describeText } from './decode.js';
import type { InspectorStore } from './store.js';
import type { Direction } from './types.js';
import { parseClose } from './ws-wire.js';

export interface Recording {
  store: InspectorStore;
  message(
    id: string,
    direction: Direction,
    binary: boolean,
    data: Buffer | undefined,
    size: number,
    cut: boolean,
  ): void;
  control(id: string, direction: Direction, kind: 'ping' | 'pong' | 'close', payload: Buffer): void;
}

export function storeRecording(store: InspectorStore): Recording {
  return {
    store,
    message(id, direction, binary, data, size, cut) {
      if (!store.has(id)) return;
      if (data === undefined) {
        store.record(
          id,
          direction,
          size,
          'compressed',
          undefined,
          undefined,
          undefined,
          undefined,
          binary,
        );
        return;
      }
      if (binary) {
        store.record(id, direction, size, 'binary', undefined, undefined, undefined, data, true);
        return;
      }
      const first = data[0];
      const json = first === 0x7b || first === 0x5b;
      const text = !cut && json ? data.toString() : undefined;
      const described =
        text !== undefined
          ? describeText(text, store.limits.maxFrameBytes)
          : cut && json
            ? describeCut(data.subarray(0, 256).toString())
            : undefined;
      // Both ways: a backend's own replies may carry tokens (a login's answer).
      store.record(
        id,
        direction,
        size,
        described?.type ?? 'text',
        described?.channel,
        described?.event,
        described?.id,
        text ?? data,
        false,
        true,
      );
    },
    control(id, direction, kind, payload) {
      if (!store.has(id)) return;
      if (kind === 'close') {
        const { code, reason } = parseClose(payload);
        store.recordControl(id, direction, 'close', undefined, code, reason);
      } else store.recordControl(id, direction, kind, payload);
    },
  };
}
