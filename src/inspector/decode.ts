/**
 * What the timeline's columns show of a frame: its type, channel, event (or RPC method) and
 * request id. Switchboard frames fill them all; so does any JSON protocol whose frames carry a
 * `type` (or a Phoenix-style `topic` and `event`). Everything else is shown raw.
 */

export interface Described {
  type: string;
  channel?: string;
  event?: string;
  id?: number;
}

/** A decoded frame's columns; `type` is 'invalid' when it is not an object with a string type. */
export function describe(value: unknown): Described {
  if (typeof value !== 'object' || value === null) return { type: 'invalid' };
  const frame = value as Record<string, unknown>;
  const out: Described = {
    type: typeof frame['type'] === 'string' ? (frame['type'] as string).slice(0, 32) : 'invalid',
  };
  if (typeof frame['channel'] === 'string') out.channel = frame['channel'];
  if (typeof frame['event'] === 'string') out.event = frame['event'];
  else if (typeof frame['method'] === 'string') out.event = frame['method'];
  if (Number.isSafeInteger(frame['id'])) out.id = frame['id'] as number;
  return out;
}

/**
 * One text message from any server, as the proxy shows it (one message, one timeline row, so
 * replay and record-to-test see the messages that were sent): a JSON object by its `type` (else
 * 'json'), a Switchboard batch (an array of frames with a type) as 'batch' with its first
 * frame's columns, other JSON as 'json', undefined for text that is not JSON. Parses only text
 * that looks like JSON and is short enough to be kept whole.
 */
export function describeText(text: string, maxBytes: number): Described | undefined {
  const first = text.charCodeAt(0);
  // '{' or '['
  if ((first !== 0x7b && first !== 0x5b) || text.length > maxBytes) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (Array.isArray(value)) {
    if (
      value.length > 0 &&
      value.every((v) => typeof v === 'object' && v !== null && typeof v.type === 'string')
    )
      return value.length === 1 ? describe(value[0]) : { ...describe(value[0]), type: 'batch' };
    return { type: 'json' };
  }
  if (typeof value !== 'object' || value === null) return { type: 'json' };
  const described = describe(value);
  if (described.type === 'invalid') {
    described.type = 'json';
    const topic = (value as Record<string, unknown>)['topic'];
    if (described.channel === undefined && typeof topic === 'string') described.channel = topic;
  }
  return described;
}

/**
 * The start of a JSON message too long to keep whole: its `type`, when it says so near the start
 * (as Switchboard's frames and most JSON protocols do), else 'text'.
 */
export function describeCut(head: string): Described {
  const match = /^\s*\{\s*"type"\s*:\s*"([^"\\]{1,32})"/.exec(head.slice(0, 256));
  return { type: match?.[1] ?? 'text' };
}
