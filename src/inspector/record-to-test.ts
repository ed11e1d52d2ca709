/**
 * Record-to-test: one captured connection as a runnable test file (Node, vitest, `ws`). It
 * replays what the client sent, in order, against a URL, and checks that the server answers the
 * same way: the same kinds of frame in the same order, with the same shape (keys and value types,
 * and the values of discriminating fields such as `type`, `event`, `code`), but not the same
 * volatile values (ids, times, tokens, offsets). A captured bug becomes a regression test.
 */
import { REDACTED } from './redact.js';
import type { InspectorStore } from './store.js';
import type { ConnectionRecord, FrameRecord } from './types.js';

export interface RecordToTestOptions {
  /** Where the test connects unless `WS_URL` is set; default ws://127.0.0.1:3000 + the path. */
  url?: string;
}

type Step =
  | { send: string }
  | { sendBinary: string; size: number }
  | { ping: string }
  | { expect: string }
  | { expectBinary: number }
  | { expectPong: true }
  | { close: number | null; reason: string }
  | { expectClose: number | null };

/** The URL the connection was opened with, without the query parameters that were redacted. */
export function capturedUrl(record: ConnectionRecord, base = 'ws://127.0.0.1:3000'): string {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(record.query))
    if (value !== REDACTED) query.set(name, value);
  const search = query.toString();
  return `${base.replace(/\/$/, '')}${record.path}${search ? `?${search}` : ''}`;
}

/** A Switchboard heartbeat (the server's ping, the client's pong): timing, not behaviour. */
const isHeartbeat = (frame: FrameRecord) =>
  !frame.control &&
  frame.id === undefined &&
  ((frame.direction === 'out' && frame.type === 'ping') ||
    (frame.direction === 'in' && frame.type === 'pong'));

function bytesOf(frame: FrameRecord): { base64: string; whole: boolean } {
  const hex = frame.hex ?? '';
  return {
    base64: Buffer.from(hex, 'hex').toString('base64'),
    whole: hex.length / 2 === frame.size,
  };
}

function stepsOf(frames: FrameRecord[]): { step: Step; note: string }[] {
  const steps: { step: Step; note: string }[] = [];
  const start = frames[0]?.time ?? 0;
  let closing: 'in' | 'out' | undefined;
  for (const frame of frames) {
    const arrow = frame.direction === 'in' ? '→' : '←';
    const note = `+${frame.time - start} ms ${arrow} ${frame.type}${frame.truncated && !frame.binary ? ' (cut at capture)' : ''}`;
    const add = (step: Step, extra = '') => steps.push({ step, note: note + extra });
    if (frame.control) {
      if (frame.type === 'close') {
        const code = frame.code ?? null;
        const reason = (frame.text ?? '').replace(/^\d+ ?/, '');
        if (closing === undefined) {
          closing = frame.direction;
          add(frame.direction === 'in' ? { close: code, reason } : { expectClose: code });
        } else if (closing === 'in' && frame.direction === 'out') add({ expectClose: code });
        // The client's answer to a server's close is ws's own.
      } else if (closing === undefined && frame.direction === 'in' && frame.type === 'ping') {
        add({ ping: frame.binary ? '' : (frame.text ?? '') });
      } else if (closing === undefined && frame.direction === 'out' && frame.type === 'pong') {
        add({ expectPong: true });
      }
      // Server pings and the client's pongs are heartbeats: timing, not behaviour.
      continue;
    }
    if (closing !== undefined || isHeartbeat(frame)) continue;
    if (frame.direction === 'in') {
      if (!frame.binary) add({ send: frame.text ?? '' });
      else {
        const { base64, whole } = bytesOf(frame);
        add(
          { sendBinary: base64, size: frame.size },
          whole ? '' : ' (only its first bytes were kept: the rest is zeros)',
        );
      }
    } else if (frame.binary) add({ expectBinary: frame.size });
    else add({ expect: frame.text ?? '' });
  }
  return steps;
}

/** The runtime half of the generated test: shapes, text templates, tokens and fresh keys. */
const RUNTIME = String.raw`
// What a reply is compared by: its shape, not its volatile values.
const KEEP = new Set(['type', 'kind', 'op', 'action', 'event', 'method', 'channel', 'topic', 'status', 'code', 'error', 'ok', 'success']);
const VOLATILE_KEY = /^(?:[0-9a-f]{8,}|[0-9a-f]{8}-[0-9a-f-]{27}|\d+)$/i;

/** Keys and value types, with the values of discriminating fields (type, event, code…) kept. */
function shapeOf(value, key) {
  if (value === null) return null;
  if (Array.isArray(value)) return value.map((item) => shapeOf(item));
  if (typeof value === 'object') {
    const out = {};
    for (const k of Object.keys(value).sort()) out[VOLATILE_KEY.test(k) ? '<key>' : k] = shapeOf(value[k], k);
    return out;
  }
  if (KEEP.has(key)) {
    if (typeof value === 'number' || typeof value === 'boolean') return value;
    if (typeof value === 'string' && value.length <= 64) return value;
  }
  return typeof value;
}

/** Text that is not JSON, with its volatile parts (uuids, long tokens, numbers) blanked. */
function template(text) {
  return text
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi, '<uuid>')
    .replace(/[A-Za-z0-9_-]{20,}/g, '<token>')
    .replace(/\d+(?:\.\d+)?/g, '<n>');
}

function shapeOfText(text) {
  try {
    return { json: shapeOf(JSON.parse(text)) };
  } catch {
    return { text: template(text) };
  }
}

/** A captured client frame made ready to send again: the token put back, publish keys fresh. */
function prepare(text) {
  if (TOKEN !== undefined)
    text = text.replace(/"(token|access_token|refresh_token|id_token|password|secret|credential|authorization|api_key|apikey)":"\[redacted\]"/g, (_, field) => '"' + field + '":' + JSON.stringify(TOKEN));
  if (!text.includes('"publish"') || !text.includes('"key"')) return text;
  try {
    const fresh = (f) => f && f.type === 'publish' && typeof f.key === 'string' ? { ...f, key: 'test-' + randomUUID() } : f;
    const parsed = JSON.parse(text);
    return JSON.stringify(Array.isArray(parsed) ? parsed.map(fresh) : fresh(parsed));
  } catch {
    return text;
  }
}

function bytes(step) {
  const out = Buffer.alloc(step.size);
  Buffer.from(step.sendBinary, 'base64').copy(out);
  return out;
}
`;

const TEST = String.raw`
it(NAME, async () => {
  const ws = new WebSocket(SERVER_URL, PROTOCOLS);
  const inbox = [];
  const pongs = [];
  let closed;
  let failed;
  let wake = () => {};
  ws.on('message', (data, isBinary) => {
    // The server's heartbeats come when they come: not part of the conversation.
    if (!isBinary && /^\{"type":"ping"\}$/.test(data.toString())) return;
    inbox.push({ data, isBinary });
    wake();
  });
  ws.on('pong', () => {
    pongs.push(true);
    wake();
  });
  ws.on('close', (code, reason) => {
    closed = { code, reason: reason.toString() };
    wake();
  });
  ws.on('error', (error) => {
    failed = error;
    wake();
  });
  const next = async (what, take) => {
    const deadline = Date.now() + WAIT_MS;
    for (;;) {
      const value = take();
      if (value !== undefined) return value;
      if (failed) throw failed;
      if (closed && what !== 'close') throw new Error('Closed (' + closed.code + ' ' + closed.reason + ') while waiting for ' + what);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('Timed out waiting for ' + what);
      await new Promise((resolve) => {
        const timer = setTimeout(resolve, left);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  };
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  if (PROTOCOLS.length > 0) expect(ws.protocol).toBe(PROTOCOLS[0]);
  for (const [i, step] of steps.entries()) {
    if ('send' in step) ws.send(prepare(step.send));
    else if ('sendBinary' in step) ws.send(bytes(step), { binary: true });
    else if ('ping' in step) ws.ping(step.ping);
    else if ('expectPong' in step) await next('pong ' + i, () => pongs.shift());
    else if ('expect' in step) {
      const got = await next('frame ' + i, () => inbox.shift());
      expect(got.isBinary, 'step ' + i + ' is text').toBe(false);
      expect(shapeOfText(got.data.toString()), 'step ' + i + ' like ' + step.expect).toEqual(shapeOfText(step.expect));
    } else if ('expectBinary' in step) {
      const got = await next('frame ' + i, () => inbox.shift());
      expect(got.isBinary, 'step ' + i + ' is binary').toBe(true);
    } else if ('close' in step) {
      if (step.close === null) ws.close();
      else ws.close(step.close, step.reason);
    } else if ('expectClose' in step) {
      const { code } = await next('close', () => closed);
      expect(code, 'close code').toBe(step.expectClose ?? 1005);
    }
  }
  if (!closed) {
    ws.close();
    await next('close', () => closed).catch(() => ws.terminate());
  }
}, 60_000);
`;

/** The test file for connection `connectionId`; throws when the store does not have it. */
export function recordToTest(
  store: InspectorStore,
  connectionId: string,
  options: RecordToTestOptions = {},
): string {
  const record = store.connection(connectionId);
  if (!record) throw new RangeError(`No connection ${connectionId} in the inspector`);
  const frames = store.frames(
    { connection: connectionId, control: true },
    Number.POSITIVE_INFINITY,
  );
  const steps = stepsOf(frames);
  const url = options.url ?? capturedUrl(record);
  const protocols =
    record.protocol !== undefined && record.protocol !== REDACTED ? [record.protocol] : [];
  const warnings = [
    ...(record.droppedFrames > 0
      ? [
          `// Warning: ${record.droppedFrames} frames of this connection were dropped to stay within the`,
          `// inspector's bounds: the test starts where the capture does.`,
        ]
      : []),
    ...(Object.values(record.query).includes(REDACTED)
      ? [
          '// Query parameters holding credentials were redacted at capture and are left out of SERVER_URL.',
        ]
      : []),
    ...(record.protocol === REDACTED
      ? ['// The subprotocol looked like a credential and was redacted: set PROTOCOLS.']
      : []),
  ];
  const width = Math.max(0, ...steps.map(({ step }) => JSON.stringify(step).length));
  const lines = steps.map(
    ({ step, note }) =>
      `  ${`${JSON.stringify(step)},`.padEnd(Math.min(width + 1, 100))} // ${note.replace(/\n/g, ' ')}`,
  );
  return `// Generated by the Switchboard inspector from connection ${record.id} (${record.path}, ${frames.length} frames).
// It replays what the client sent and checks the server answers in the same shape: the same kinds of
// frame in the same order, the same keys and value types, and the same type, event, channel and
// code values; not the same ids, times or tokens.
//   WS_URL=ws://host:port/path npx vitest run ${record.id}.test.mjs
// Credentials were redacted at capture: TOKEN=… puts one back into "token" (and similar) fields.
${warnings.join('\n')}
import { randomUUID } from 'node:crypto';
import { expect, it } from 'vitest';
import WebSocket from 'ws';

const SERVER_URL = process.env.WS_URL ?? ${JSON.stringify(url)};
const TOKEN = process.env.TOKEN;
const PROTOCOLS = ${JSON.stringify(protocols)};
const WAIT_MS = Number(process.env.WAIT_MS ?? 5000);
const NAME = ${JSON.stringify(`connection ${record.id}: the server answers as it did when captured`)};

const steps = [
${lines.join('\n')}
];
${RUNTIME}${TEST}`;
}
