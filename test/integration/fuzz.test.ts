import { createServer as createHttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type WebSocket, WebSocketServer } from 'ws';
import { attachInspector } from '../../src/inspector/index.js';
import {
  CloseCode,
  ErrorCode,
  isErrorCode,
  MAX_DATA_DEPTH,
  SwitchboardError,
} from '../../src/protocol/index.js';
import {
  client,
  connected,
  onCleanup,
  RawSocket,
  sleep,
  startServer,
  token,
  waitFor,
} from '../helpers.js';

/**
 * Property-based fuzzing of the gateway's read path. Fixed seed so `npm test` tries the same
 * inputs every time; FUZZ_SEED replays another run, FUZZ_RUNS makes a longer one.
 */
const RUNS = Number(process.env.FUZZ_RUNS ?? 200);
const SEED = Number(process.env.FUZZ_SEED ?? 20260509);

const SOFT = 16 * 1024;
const HARD = 64 * 1024;
const MAX_BATCH = 8;
const LIMITS = {
  maxMessageBytes: SOFT,
  hardMaxMessageBytes: HARD,
  maxBatch: MAX_BATCH,
  // Throttling has its own tests (floods.test.ts); here every frame must reach the validators.
  messagesPerSecond: 1_000_000,
  burst: 1_000_000,
};

/** Codes that may travel on the wire (the others are produced by the client alone). */
const WIRE_CODES = new Set<string>(
  Object.values(ErrorCode).filter((c) => !['TIMEOUT', 'DISCONNECTED', 'CLOSED'].includes(c)),
);
/** What a fuzzed connection may be closed with: before auth, a failed connect or a request ahead of it. */
const PRE_AUTH_CLOSES = new Set<number>([
  CloseCode.MESSAGE_TOO_BIG,
  CloseCode.BAD_PROTOCOL,
  CloseCode.UNAUTHORIZED,
  CloseCode.TOKEN_EXPIRED,
  CloseCode.UNSUPPORTED_VERSION,
]);
const POST_AUTH_CLOSES = new Set<number>([CloseCode.MESSAGE_TOO_BIG]);

interface Wire {
  data: string | Uint8Array;
  binary: boolean;
}
const text = (data: string): Wire => ({ data, binary: false });

const TYPES = [
  'connect',
  'refresh',
  'subscribe',
  'unsubscribe',
  'publish',
  'rpc',
  'presence',
  'history',
  'ping',
  'pong',
] as const;

const junk = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.double(),
  fc.string({ maxLength: 8 }),
  fc.array(fc.nat(), { maxLength: 3 }),
  fc.object({ maxDepth: 1 }),
);
const idArb = fc.oneof(
  { weight: 6, arbitrary: fc.nat(1_000_000) },
  { weight: 1, arbitrary: fc.constantFrom(-1, 1.5, 2 ** 53, Number.MAX_VALUE) },
  { weight: 1, arbitrary: junk },
);
const nameArb = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.constantFrom(
      'chat:a',
      'chat:b',
      'watch:room',
      'nowhere',
      '',
      '$user:alice',
      '__proto__',
      'echo',
      'm',
    ),
  },
  { weight: 2, arbitrary: fc.string({ maxLength: 12 }).map((s) => `chat:${s}`) },
  { weight: 1, arbitrary: fc.string({ minLength: 250, maxLength: 300 }) },
  { weight: 1, arbitrary: junk },
);
const positionArb = fc.oneof(
  fc.record({ offset: idArb, epoch: fc.oneof(fc.string({ maxLength: 70 }), junk) }),
  junk,
);
/** Shaped like a frame, but each field may be missing, wrong, or of the wrong type. */
const frameArb = fc.record(
  {
    type: fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...TYPES) }, fc.string(), junk),
    id: idArb,
    version: fc.oneof(fc.constantFrom(0, 1, 2), junk),
    token: fc.oneof(
      fc.string({ maxLength: 40 }),
      fc.constant('eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9.'),
      junk,
    ),
    channel: nameArb,
    event: nameArb,
    method: nameArb,
    data: fc.jsonValue({ maxDepth: 4 }),
    since: positionArb,
    limit: idArb,
    key: fc.oneof(fc.string({ maxLength: 140 }), junk),
    exceptSelf: fc.oneof(fc.boolean(), junk),
    ephemeral: fc.oneof(fc.boolean(), junk),
    stream: fc.oneof(
      fc.record({
        id: fc.string({ maxLength: 140 }),
        seq: idArb,
        status: fc.constantFrom('open', 'end', 'error', 'x'),
      }),
      junk,
    ),
  },
  { requiredKeys: ['type'] },
);

/** Cuts, overwrites, inserts, deletes or repeats a piece of an otherwise valid encoding. */
const mutatedArb = fc
  .tuple(
    frameArb.map((f) => JSON.stringify(f)),
    fc.constantFrom('truncate', 'replace', 'insert', 'delete', 'repeat'),
    fc.nat(),
    fc.nat(),
    fc.string({ minLength: 1, maxLength: 3, unit: 'binary' }),
  )
  .map(([s, op, a, b, chars]) => {
    const i = a % (s.length + 1);
    const j = Math.min(s.length, i + (b % 8) + 1);
    switch (op) {
      case 'truncate':
        return text(s.slice(0, i));
      case 'replace':
        return text(s.slice(0, i) + chars + s.slice(j));
      case 'insert':
        return text(s.slice(0, i) + chars + s.slice(i));
      case 'delete':
        return text(s.slice(0, i) + s.slice(j));
      default:
        return text(s.slice(0, j) + s.slice(i));
    }
  });

/** Nesting deep enough that anything recursing over the value (JSON.stringify) overflows. */
const deepArb = fc
  .tuple(fc.integer({ min: 10, max: 7_500 }), fc.constantFrom('bare', 'publish', 'rpc', 'batch'))
  .map(([depth, where]) => {
    const deep = `${'['.repeat(depth)}${']'.repeat(depth)}`;
    switch (where) {
      case 'bare':
        return text(deep);
      case 'publish':
        return text(
          `{"type":"publish","id":41,"channel":"chat:a","event":"m","data":${deep},"key":"deep"}`,
        );
      case 'rpc':
        return text(`{"type":"rpc","id":42,"method":"echo","data":${deep}}`);
      default:
        // In a batch the inspector re-encodes each frame for display, before any validation.
        return text(
          `[{"type":"rpc","id":43,"method":"echo","data":${deep}},{"type":"ping","id":44}]`,
        );
    }
  });

/** A publish padded to an exact byte size around the two size limits. */
const sizedArb = fc
  .tuple(
    fc.oneof(
      fc.constantFrom(SOFT - 1, SOFT, SOFT + 1, HARD - 1, HARD, HARD + 1),
      fc.integer({ min: 1, max: HARD + 100 }),
    ),
    fc.boolean(),
  )
  .map(([size, binary]) => {
    const head = '{"type":"publish","id":7,"channel":"chat:a","event":"m","data":"';
    const tail = '"}';
    const body = head + 'x'.repeat(Math.max(0, size - head.length - tail.length)) + tail;
    return binary ? { data: Buffer.from(body), binary: true } : text(body);
  });

const binaryArb = fc.oneof(
  fc.uint8Array({ maxLength: 300 }).map((data) => ({ data, binary: true })),
  frameArb.map((f) => ({ data: Buffer.from(JSON.stringify(f)), binary: true })),
  // A lone continuation byte and an overlong encoding: not UTF-8, so not JSON either.
  fc.constantFrom(
    { data: Buffer.from([0x7b, 0x80, 0x7d]), binary: true },
    { data: Buffer.from([0xc0, 0xaf]), binary: true },
  ),
);

const messageArb: fc.Arbitrary<Wire> = fc.oneof(
  { weight: 5, arbitrary: frameArb.map((f) => text(JSON.stringify(f))) },
  {
    weight: 2,
    arbitrary: fc.array(frameArb, { maxLength: MAX_BATCH + 3 }).map((b) => text(JSON.stringify(b))),
  },
  { weight: 3, arbitrary: mutatedArb },
  { weight: 1, arbitrary: fc.jsonValue().map((v) => text(JSON.stringify(v) ?? 'undefined')) },
  { weight: 1, arbitrary: fc.string({ maxLength: 60, unit: 'binary' }).map(text) },
  { weight: 1, arbitrary: deepArb },
  { weight: 1, arbitrary: sizedArb },
  { weight: 2, arbitrary: binaryArb },
);

const isId = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 0;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * How many answers (`reply` or `error` frames) docs/protocol.md promises for one message, or the
 * close it promises instead. Written from the document, not from the gateway's code.
 */
function promised(wire: Wire): { answers: number } | { close: number } {
  const bytes = typeof wire.data === 'string' ? Buffer.byteLength(wire.data) : wire.data.length;
  if (bytes > HARD) return { close: CloseCode.MESSAGE_TOO_BIG };
  let frames: unknown[] | undefined;
  try {
    const raw = typeof wire.data === 'string' ? wire.data : utf8.decode(wire.data);
    const value: unknown = JSON.parse(raw);
    frames = Array.isArray(value) ? value : [value];
  } catch {
    frames = undefined;
  }
  const ids = (frames ?? []).filter((f) => isId((f as { id?: unknown } | null)?.id)).length;
  if (bytes > SOFT || !frames || frames.length === 0 || frames.length > MAX_BATCH)
    return { answers: Math.max(1, ids) };
  // Every frame is answered once, except `pong`, which answers the server.
  const pongs = frames.filter(
    (f) => typeof f === 'object' && f !== null && (f as { type?: unknown }).type === 'pong',
  ).length;
  return { answers: frames.length - pongs };
}

type Answer = { type: string; id?: unknown; code?: unknown; message?: unknown };
const answers = (socket: RawSocket) =>
  (socket.received as Answer[]).filter((f) => f.type === 'reply' || f.type === 'error');

function send(socket: RawSocket, wire: Wire): void {
  socket.ws.send(wire.data, { binary: wire.binary });
}

/** Sends the messages one by one, checking each is answered as promised or closes as documented. */
async function exercise(socket: RawSocket, messages: Wire[], authed: boolean): Promise<number> {
  const closes = authed ? POST_AUTH_CLOSES : PRE_AUTH_CLOSES;
  let expected = 0;
  for (const wire of messages) {
    const promise = promised(wire);
    send(socket, wire);
    if ('close' in promise) {
      expect((await socket.closedWith()).code).toBe(promise.close);
      return expected;
    }
    expected += promise.answers;
    await waitFor(
      () => socket.closed || answers(socket).length >= expected,
      5_000,
      `${expected} answers to ${String(wire.data).slice(0, 200)}`,
    );
    if (socket.closed) {
      // Only a refused connect or a request ahead of it may end a connection before auth.
      expect(closes.has(socket.closed.code), `close ${socket.closed.code}`).toBe(true);
      return expected;
    }
  }
  return expected;
}

function checkAnswers(socket: RawSocket): void {
  for (const frame of socket.received as Answer[]) {
    expect(['reply', 'error', 'message', 'ping']).toContain(frame.type);
    if (frame.id !== undefined) expect(isId(frame.id)).toBe(true);
    if (frame.type === 'error') {
      expect(WIRE_CODES.has(frame.code as string), `code ${String(frame.code)}`).toBe(true);
      expect(typeof frame.message).toBe('string');
    }
  }
}

/** Handles and timers of this process, by kind: what a leak would leave behind. */
function resources(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const kind of process.getActiveResourcesInfo()) counts[kind] = (counts[kind] ?? 0) + 1;
  return counts;
}

async function fuzzServer() {
  const started = await startServer({
    channels: {
      'chat:*': { presence: true, history: { size: 100, ttlMs: 60_000 } },
      // The bystanders' channel: the fuzzer's user has no rights on it.
      'watch:*': {
        history: { size: 10_000, ttlMs: 60_000 },
        authorize: (identity) => identity.userId === 'alice' || identity.userId === 'bob',
      },
    },
    limits: LIMITS,
  });
  started.server.rpc('echo', (data: unknown) => data);
  // Its taps see every message before validation: the fuzzer goes through them too.
  const inspector = attachInspector(started.server);
  onCleanup(() => inspector.close());
  return started;
}

/** Alice publishes steadily to Bob on a channel the fuzzer cannot touch. */
async function bystanders(url: string) {
  const alice = await connected(url, 'alice');
  const bob = await connected(url, 'bob');
  const errors: unknown[] = [];
  alice.on('error', (e) => errors.push(e));
  bob.on('error', (e) => errors.push(e));
  const got: number[] = [];
  const sub = bob.subscribe('watch:room');
  sub.on('n', (n: number) => got.push(n));
  await sub.ready();
  let sent = 0;
  let running = true;
  const publishing = (async () => {
    while (running && sent < 100_000) {
      await alice.publish('watch:room', 'n', sent);
      sent++;
      await sleep(3);
    }
  })();
  return {
    alice,
    bob,
    async stop() {
      running = false;
      await publishing;
      await waitFor(() => got.length >= sent, 5_000, 'bob to receive every publication');
      return { sent, got, errors };
    },
  };
}

describe('fuzz: hostile input to the gateway', () => {
  it(`before auth: ${RUNS} runs of malformed, truncated, nested, huge and binary messages`, async () => {
    const { url, server } = await fuzzServer();
    const watch = await bystanders(url);
    const baseline = resources();
    await fc.assert(
      fc.asyncProperty(fc.array(messageArb, { minLength: 1, maxLength: 4 }), async (messages) => {
        const socket = await RawSocket.open(url);
        try {
          await exercise(socket, messages, false);
          checkAnswers(socket);
        } finally {
          socket.ws.terminate();
        }
      }),
      { numRuns: RUNS, seed: SEED, endOnFailure: true },
    );
    const { sent, got, errors } = await watch.stop();
    expect(got).toEqual(Array.from({ length: sent }, (_, i) => i));
    expect(errors).toEqual([]);
    expect(watch.alice.metrics().reconnects + watch.bob.metrics().reconnects).toBe(0);
    await expectNoLeak(server, baseline);
  }, 120_000);

  it(`after auth: ${RUNS} runs; every message answered exactly as promised`, async () => {
    const { url, server } = await fuzzServer();
    const watch = await bystanders(url);
    const baseline = resources();
    let sentinel = 900_000_000;
    await fc.assert(
      fc.asyncProperty(fc.array(messageArb, { minLength: 1, maxLength: 4 }), async (messages) => {
        const socket = await RawSocket.connect(url, 'fuzzer');
        socket.received.length = 0;
        try {
          const expected = await exercise(socket, messages, true);
          checkAnswers(socket);
          if (socket.closed) return;
          // Nothing answered twice: after a ping that overtakes nothing still queued, the count
          // is exact.
          const id = ++sentinel;
          socket.send({ type: 'ping', id });
          await socket.next((f) => f['id'] === id, 5_000);
          await sleep(1);
          expect(answers(socket).length).toBe(expected);
        } finally {
          socket.ws.terminate();
        }
      }),
      { numRuns: RUNS, seed: SEED + 1, endOnFailure: true },
    );
    const { sent, got, errors } = await watch.stop();
    expect(got).toEqual(Array.from({ length: sent }, (_, i) => i));
    expect(errors).toEqual([]);
    expect(watch.alice.metrics().reconnects + watch.bob.metrics().reconnects).toBe(0);
    await expectNoLeak(server, baseline);
  }, 120_000);

  it(`refuses data nested deeper than ${MAX_DATA_DEPTH} and keeps the channel's history readable`, async () => {
    const { url } = await fuzzServer();
    const socket = await RawSocket.connect(url, 'fuzzer');
    const nest = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;
    const publish = (id: number, data: string) =>
      `{"type":"publish","id":${id},"channel":"chat:a","event":"m","data":${data}}`;
    // Accepted up to the limit…
    socket.send(publish(1, nest(MAX_DATA_DEPTH)));
    expect(await socket.reply(1)).toMatchObject({ type: 'reply', data: { offset: 1 } });
    // …refused past it, on every field that carries app data. 5 000 levels overflowed
    // JSON.stringify when the publication was encoded for subscribers: the publisher got an
    // offset, subscribers nothing, and every later history read of the channel failed.
    socket.send(publish(2, nest(5_000)));
    socket.send(`{"type":"rpc","id":3,"method":"echo","data":${nest(5_000)}}`);
    socket.send(publish(4, nest(MAX_DATA_DEPTH + 1)));
    for (const id of [2, 3, 4]) {
      expect(await socket.reply(id)).toMatchObject({ type: 'error', code: ErrorCode.BAD_FRAME });
    }
    socket.send({ type: 'history', id: 5, channel: 'chat:a' });
    expect(await socket.reply(5)).toMatchObject({ type: 'reply', data: { offset: 1 } });
    const fresh = await RawSocket.open(url);
    fresh.send(
      `{"type":"connect","id":1,"version":1,"token":"${await token('x')}","data":${nest(100)}}`,
    );
    expect(await fresh.reply(1)).toMatchObject({ code: ErrorCode.BAD_FRAME });
  });

  it('a deeply nested frame in a batch does not crash the inspector tap', async () => {
    const { url, server } = await fuzzServer();
    const socket = await RawSocket.connect(url, 'fuzzer');
    const deep = `${'['.repeat(7_000)}${']'.repeat(7_000)}`;
    socket.send(`[{"type":"rpc","id":1,"method":"echo","data":${deep}},{"type":"ping","id":2}]`);
    expect(await socket.reply(1)).toMatchObject({ code: ErrorCode.BAD_FRAME });
    expect(await socket.reply(2)).toMatchObject({ type: 'reply' });
    expect(server.connections.size).toBe(1);
  });
});

async function expectNoLeak(
  server: { connections: ReadonlyMap<string, unknown>; localChannels(): { channel: string }[] },
  baseline: Record<string, number>,
): Promise<void> {
  // Every fuzzed connection is gone, with its channel memberships and timers.
  await waitFor(() => server.connections.size === 2, 5_000, 'fuzzed connections to be released');
  expect(server.localChannels().map((c) => c.channel)).toEqual(['watch:room']);
  await waitFor(
    () => {
      const now = resources();
      return (
        (now['TCPSocketWrap'] ?? 0) <= (baseline['TCPSocketWrap'] ?? 0) &&
        (now['Timeout'] ?? 0) <= (baseline['Timeout'] ?? 0) + 2
      );
    },
    5_000,
    `handles and timers back to baseline (${JSON.stringify(baseline)} → ${JSON.stringify(resources())})`,
  );
}

// ── the client against a hostile server ───────────────────────────────────────────────────

type Script = (ws: WebSocket, connectId: number) => void;

/**
 * A bare `ws` server whose first `hostile` connections run `script` after the client's connect
 * arrives; later ones get a well-behaved gateway's answers, so the client can be seen to recover.
 */
async function hostileServer() {
  const http = createHttpServer();
  const wss = new WebSocketServer({ server: http });
  const state = { script: (() => {}) as Script, hostile: 0, attempts: 0 };
  wss.on('connection', (ws) => {
    const attempt = ++state.attempts;
    ws.on('error', () => {});
    ws.on('message', (data) => {
      let frames: { type?: string; id?: number }[];
      try {
        const value = JSON.parse(data.toString());
        frames = Array.isArray(value) ? value : [value];
      } catch {
        return;
      }
      for (const frame of frames) {
        if (attempt <= state.hostile) {
          if (frame.type === 'connect') state.script(ws, frame.id ?? 0);
          continue;
        }
        const data =
          frame.type === 'connect'
            ? { version: 1, connection: `c${attempt}`, user: 'u', heartbeatMs: 0 }
            : frame.type === 'subscribe'
              ? { offset: 0, epoch: 'e' }
              : {};
        if (frame.type !== 'pong') ws.send(JSON.stringify({ type: 'reply', id: frame.id, data }));
      }
    });
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  onCleanup(() => {
    for (const ws of wss.clients) ws.terminate();
    wss.close();
    return new Promise((resolve) => http.close(resolve));
  });
  return { url: `ws://127.0.0.1:${(http.address() as AddressInfo).port}`, state };
}

/** Whatever escapes the client: an uncaught exception or an unhandled rejection. */
function escapes(): unknown[] {
  const seen: unknown[] = [];
  const record = (error: unknown) => seen.push(error);
  process.on('uncaughtException', record);
  process.on('unhandledRejection', record);
  onCleanup(() => {
    process.off('uncaughtException', record);
    process.off('unhandledRejection', record);
  });
  return seen;
}

const serverJunk = fc.oneof(
  fc.constant(undefined),
  fc.constant(null),
  fc.boolean(),
  fc.double(),
  fc.integer(),
  fc.string({ maxLength: 8 }),
  fc.object({ maxDepth: 1 }),
);
const serverFrameArb = fc.record(
  {
    type: fc.oneof(fc.constantFrom('reply', 'error', 'message', 'ping'), serverJunk),
    id: fc.oneof(fc.integer({ min: 0, max: 6 }), serverJunk),
    data: fc.oneof(
      fc.jsonValue({ maxDepth: 3 }),
      fc.record(
        {
          version: serverJunk,
          connection: fc.oneof(fc.string(), serverJunk),
          user: fc.oneof(fc.string(), serverJunk),
          heartbeatMs: fc.oneof(fc.constantFrom(0, 1, 2 ** 40, -5), serverJunk),
          expiresAt: fc.oneof(fc.constantFrom(0, Date.now() + 500, 2 ** 60), serverJunk),
          offset: fc.oneof(fc.nat(), serverJunk),
          epoch: fc.oneof(fc.string(), serverJunk),
          recovered: serverJunk,
        },
        { requiredKeys: [] },
      ),
    ),
    code: fc.oneof(fc.constantFrom(...Object.values(ErrorCode)), serverJunk),
    message: fc.oneof(fc.string(), serverJunk),
    channel: fc.oneof(fc.constantFrom('chat:a', 'chat:b'), serverJunk),
    event: fc.oneof(fc.constantFrom('m', 'subscribed', 'error', '*', '$join'), serverJunk),
    offset: fc.oneof(fc.nat(10), serverJunk),
    epoch: fc.oneof(fc.constantFrom('e', 'f'), serverJunk),
    ephemeral: serverJunk,
    stream: fc.oneof(fc.record({ id: fc.string(), seq: fc.nat() }), serverJunk),
  },
  { requiredKeys: ['type'] },
);
type Action =
  | { kind: 'frame'; frame: Record<string, unknown>; answerConnect: boolean; batch: number }
  | { kind: 'text'; data: string }
  | { kind: 'binary'; data: Uint8Array }
  | { kind: 'close'; code: number; reason: string }
  | { kind: 'terminate' };
const actionArb: fc.Arbitrary<Action> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('frame' as const),
      frame: serverFrameArb,
      answerConnect: fc.boolean(),
      batch: fc.integer({ min: 1, max: 3 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('text' as const),
      data: fc.oneof(
        fc.string({ unit: 'binary', maxLength: 50 }),
        fc.constant(`${'['.repeat(20_000)}${']'.repeat(20_000)}`),
        serverFrameArb.map((f) => JSON.stringify(f).slice(0, -1)),
      ),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('binary' as const),
      data: fc.uint8Array({ maxLength: 64 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('close' as const),
      code: fc.oneof(
        fc.constantFrom(1000, 1001, 1011, 4000, 4001, 4002, 4003, 4006, 4007, 4010, 4011),
        fc.integer({ min: 3000, max: 4999 }),
      ),
      reason: fc.string({ maxLength: 20 }),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'terminate' as const }) },
);

function play(actions: Action[]): Script {
  return (ws, connectId) => {
    for (const action of actions) {
      if (ws.readyState !== ws.OPEN) return;
      switch (action.kind) {
        case 'frame': {
          const frame = action.answerConnect ? { ...action.frame, id: connectId } : action.frame;
          ws.send(JSON.stringify(action.batch === 1 ? frame : Array(action.batch).fill(frame)));
          break;
        }
        case 'text':
          ws.send(action.data);
          break;
        case 'binary':
          ws.send(action.data, { binary: true });
          break;
        case 'close':
          ws.close(action.code, Buffer.from(action.reason).subarray(0, 100).toString());
          return;
        case 'terminate':
          ws.terminate();
          return;
      }
    }
  };
}

describe('fuzz: a hostile server against the client', () => {
  it(`${Math.ceil(RUNS / 4)} runs of garbage: nothing escapes, errors are typed, the client recovers or stops for good`, async () => {
    const { url, state } = await hostileServer();
    const escaped = escapes();
    await fc.assert(
      fc.asyncProperty(
        fc.array(actionArb, { minLength: 1, maxLength: 8 }),
        fc.integer({ min: 1, max: 2 }),
        async (actions, hostile) => {
          state.script = play(actions);
          state.attempts = 0;
          state.hostile = hostile;
          const errors: unknown[] = [];
          const c = client(url, {
            token: 'x',
            reconnect: { minDelayMs: 5, maxDelayMs: 40 },
            requestTimeoutMs: 300,
            heartbeat: { timeoutMs: 300 },
          });
          c.on('error', (e) => errors.push(e));
          const sub = c.subscribe('chat:a');
          sub.on('error', (e) => errors.push(e));
          sub.on('*', () => {});
          const outcome = c.connect().then(
            () => 'connected',
            (e: unknown) => e,
          );
          void c.publish('chat:a', 'm', 1).catch(() => {});
          void c.request('anything').catch(() => {});
          try {
            // A refused connect is retried after the request timeout: 4 s covers several rounds.
            const result = await Promise.race([outcome, sleep(4_000).then(() => 'stuck')]);
            if (result !== 'connected') {
              // Only a terminal close code may stop the client, and it says why.
              expect(result).toBeInstanceOf(SwitchboardError);
              expect(c.state).toBe('closed');
            } else {
              // Connected in the end (a hostile script may also have sent a valid reply).
              await waitFor(() => c.state === 'connected', 4_000, 'the client to connect');
            }
            for (const error of errors) {
              expect(error).toBeInstanceOf(SwitchboardError);
              expect(isErrorCode((error as SwitchboardError).code)).toBe(true);
            }
            expect(escaped).toEqual([]);
          } finally {
            c.close();
          }
        },
      ),
      { numRuns: Math.ceil(RUNS / 4), seed: SEED + 2, endOnFailure: true },
    );
    expect(escaped).toEqual([]);
  }, 120_000);

  it('a malformed connect reply is reported and retried with a growing delay', async () => {
    const { url, state } = await hostileServer();
    const escaped = escapes();
    state.hostile = Number.POSITIVE_INFINITY;
    state.script = (ws, id) => ws.send(JSON.stringify({ type: 'reply', id }));
    const c = client(url, { token: 'x', reconnect: { minDelayMs: 20, maxDelayMs: 400 } });
    const errors: SwitchboardError[] = [];
    c.on('error', (e) => errors.push(e));
    void c.connect().catch(() => {});
    await sleep(1_500);
    c.close();
    expect(escaped).toEqual([]);
    expect(errors.length).toBeGreaterThanOrEqual(2);
    expect(errors[0]).toMatchObject({ code: ErrorCode.BAD_FRAME });
    // Without growth, 1.5 s of retries below 20 ms would be well over a hundred attempts.
    expect(state.attempts).toBeGreaterThanOrEqual(2);
    expect(state.attempts).toBeLessThan(25);
  });

  it('a server that accepts and drops every connection at once is retried with a growing delay', async () => {
    const { url, state } = await hostileServer();
    state.hostile = Number.POSITIVE_INFINITY;
    state.script = (ws, id) => {
      ws.send(
        JSON.stringify({
          type: 'reply',
          id,
          data: { version: 1, connection: 'c', user: 'u', heartbeatMs: 0 },
        }),
      );
      ws.close(4011, 'flapping');
    };
    const c = client(url, { token: 'x', reconnect: { minDelayMs: 20, maxDelayMs: 400 } });
    await c.connect();
    await sleep(1_500);
    c.close();
    expect(state.attempts).toBeGreaterThanOrEqual(2);
    expect(state.attempts).toBeLessThan(25);
  });
});
