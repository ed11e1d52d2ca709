import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Consumer, cleanEnv, createConsumer, pinned, run } from './consumer.js';

/**
 * A strict TypeScript project using the packed package: only it and `typescript` installed (no
 * @types/ws, no @types/node of its own), declarations checked too (`skipLibCheck: false`), under
 * every module resolution the README lists. No casts anywhere in the sources below.
 */

/** Every entry point that needs nothing the package does not bring. */
const core = `
import { memoryBroker } from 'switchboard/broker';
import {
  type Client,
  type ClientOptions,
  createClient,
  type WebSocketConstructor,
} from 'switchboard/client';
import { attachInspector } from 'switchboard/inspector';
import { CloseCode, ErrorCode, jsonCodec } from 'switchboard/protocol';
import { type ChannelOptions, createServer, type ServerOptions } from 'switchboard/server';
import WebSocket from 'ws';

// History with a size only: the time to live has a default.
const chat: ChannelOptions = { history: { size: 10 } };
const options: ServerOptions = {
  auth: { authenticate: (token) => ({ userId: token }) },
  channels: { 'chat:*': chat, 'feed:*': { history: { size: 5, ttlMs: 60_000 } } },
  broker: memoryBroker(),
};
export const server = createServer(options);
export const inspector = attachInspector(server);

const url = 'ws://127.0.0.1:8080/ws';
export const withWs: Client = createClient({ url, token: 'alice', WebSocket });
export const withNone: Client = createClient({ url, token: () => Promise.resolve('alice') });
export const ctor: WebSocketConstructor = WebSocket;
class Counting extends WebSocket {
  constructor(address: string) {
    super(address);
  }
}
export const subclass: ClientOptions = { url, WebSocket: Counting, codec: jsonCodec };
export const codes: number[] = [CloseCode.NORMAL, ErrorCode.FORBIDDEN.length];
`;

/** Browsers' own WebSocket (lib DOM) fits the option too. */
const browser = `
import { createClient, type WebSocketConstructor } from 'switchboard/client';

export const ctor: WebSocketConstructor = WebSocket;
export const client = createClient({ url: 'wss://example.com/ws', WebSocket: window.WebSocket });
`;

/** The entry points whose optional peers the app installs: react (its types) and ioredis. */
const peers = `
import { SwitchboardProvider, useChannel } from 'switchboard/react';
import { redisBroker } from 'switchboard/redis';
import { createServer } from 'switchboard/server';

type Room = { message: { text: string } };
function Chat() {
  const { messages, publish } = useChannel<Room>('chat:lobby', { history: 50 });
  return <button onClick={() => publish('message', { text: 'hi' })}>{messages.length}</button>;
}
export const app = (
  <SwitchboardProvider options={{ url: '/ws', token: 'alice' }}>
    <Chat />
  </SwitchboardProvider>
);
export const server = createServer({ broker: redisBroker({ url: 'redis://127.0.0.1:6379' }) });
`;

/** switchboard/ai with its optional peer \`ai\`: the transport is the AI SDK's ChatTransport. */
const ai = `
import type { ChatTransport, UIMessage, UIMessageChunk } from 'ai';
import { SwitchboardChatTransport, serveChat } from 'switchboard/ai';
import { createClient } from 'switchboard/client';
import { createServer } from 'switchboard/server';

const server = createServer({ channels: { 'ai:*': { streams: true } } });
export const service = serveChat(server, {
  channel: 'ai:',
  handler: ({ signal }) =>
    new ReadableStream<UIMessageChunk>({
      start(controller) {
        if (!signal.aborted) controller.enqueue({ type: 'start' });
        controller.close();
      },
    }),
});
const client = createClient({ url: 'ws://127.0.0.1:8080/ws', token: 'alice' });
export const transport: ChatTransport<UIMessage> = new SwitchboardChatTransport({ client });
`;

/** A handler that returns no UI message stream is refused: the AI SDK types are not \`any\`. */
const aiWrong = `
import { serveChat } from 'switchboard/ai';
import { createServer } from 'switchboard/server';

export const service = serveChat(createServer(), { channel: 'ai:', handler: () => 42 });
`;

/** The check can fail: a class that is no WebSocket is refused (the types are not `any`). */
const wrong = `
import { createClient } from 'switchboard/client';

export const client = createClient({ url: 'ws://x', WebSocket: class {} });
`;

const strict = {
  strict: true,
  exactOptionalPropertyTypes: true,
  noUncheckedIndexedAccess: true,
  skipLibCheck: false,
  noEmit: true,
  target: 'ES2022',
  lib: ['ES2022'],
  jsx: 'react-jsx',
};

const resolutions = {
  nodenext: { module: 'nodenext', moduleResolution: 'nodenext' },
  node16: { module: 'node16', moduleResolution: 'node16' },
  bundler: { module: 'esnext', moduleResolution: 'bundler' },
  // Through `typesVersions`; `import WebSocket from 'ws'` (export =) needs esModuleInterop here.
  node10: { module: 'esnext', moduleResolution: 'node10', esModuleInterop: true },
};
type Resolution = keyof typeof resolutions;

let consumer: Consumer;

async function tsconfig(name: string, options: object, files: string[]): Promise<string> {
  const file = `tsconfig.${name}.json`;
  const config = { compilerOptions: { ...strict, ...options }, files };
  await writeFile(join(consumer.dir, file), JSON.stringify(config, null, 2));
  return file;
}

/** Runs the consumer's tsc; its diagnostics ('' when it compiles). */
async function tsc(config: string): Promise<string> {
  const compiler = join(consumer.dir, 'node_modules/typescript/bin/tsc');
  try {
    await run(process.execPath, [compiler, '-p', config], {
      cwd: consumer.dir,
      env: cleanEnv(),
      timeout: 90_000,
    });
    return '';
  } catch (error) {
    const { stdout, stderr, message } = error as { stdout?: string; stderr?: string } & Error;
    return `${stdout ?? ''}${stderr ?? ''}` || message;
  }
}

describe('a strict TypeScript consumer of the packed package', () => {
  beforeAll(async () => {
    consumer = await createConsumer('types');
    await consumer.install(consumer.tarball, pinned('typescript'));
    await mkdir(join(consumer.dir, 'src'));
    for (const [name, source] of Object.entries({
      'core.ts': core,
      'browser.ts': browser,
      'peers.tsx': peers,
      'ai.ts': ai,
      'ai-wrong.ts': aiWrong,
      'wrong.ts': wrong,
    }))
      await writeFile(join(consumer.dir, 'src', name), source);
  }, 300_000);

  afterAll(async () => {
    await consumer?.remove();
  });

  it.each(Object.keys(resolutions) as Resolution[])(
    'compiles server, client (with ws and with no WebSocket), inspector, protocol, broker under %s',
    async (resolution) => {
      const config = await tsconfig(resolution, resolutions[resolution], ['src/core.ts']);
      expect(await tsc(config)).toBe('');
    },
    120_000,
  );

  it("accepts the browser's WebSocket (lib DOM, bundler)", async () => {
    const options = { ...resolutions.bundler, lib: ['ES2022', 'DOM'] };
    const config = await tsconfig('dom', options, ['src/browser.ts']);
    expect(await tsc(config)).toBe('');
  }, 120_000);

  it('refuses a WebSocket option that is no WebSocket: the check can fail', async () => {
    const config = await tsconfig('wrong', resolutions.nodenext, ['src/wrong.ts']);
    expect(await tsc(config)).toMatch(/src\/wrong\.ts.*error TS2322[\s\S]*WebSocket/);
  }, 120_000);

  describe('with the optional peers installed (@types/react, ioredis, ai)', () => {
    beforeAll(async () => {
      await consumer.install(pinned('@types/react'), pinned('ioredis'), pinned('ai'));
    }, 300_000);

    // Web streams are in lib DOM (or @types/node): \`ai\`'s own types need them too. And \`ai\`'s
    // declarations do not compile under skipLibCheck: false (TS2344 in its tool types, missing
    // json-schema types), so this one skips them: the consumer's code is still checked against
    // ours, e.g. that the transport is the SDK's ChatTransport.
    it.each(Object.keys(resolutions) as Resolution[])(
      'compiles switchboard/ai with the AI SDK types under %s (lib DOM)',
      async (resolution) => {
        const options = { ...resolutions[resolution], lib: ['ES2022', 'DOM'], skipLibCheck: true };
        const config = await tsconfig(`${resolution}-ai`, options, ['src/ai.ts']);
        expect(await tsc(config)).toBe('');
      },
      120_000,
    );

    it('refuses a chat handler that returns no UI message stream: the check can fail', async () => {
      const options = { ...resolutions.bundler, lib: ['ES2022', 'DOM'], skipLibCheck: true };
      const config = await tsconfig('ai-wrong', options, ['src/ai-wrong.ts']);
      expect(await tsc(config)).toMatch(/src\/ai-wrong\.ts.*error TS2322/);
    }, 120_000);

    it.each(Object.keys(resolutions) as Resolution[])(
      'compiles switchboard/react and switchboard/redis too under %s',
      async (resolution) => {
        const files = ['src/core.ts', 'src/peers.tsx'];
        const config = await tsconfig(`${resolution}-peers`, resolutions[resolution], files);
        expect(await tsc(config)).toBe('');
      },
      120_000,
    );
  });
});
