import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { claimPath } from './claim-path.js';

const servers: ReturnType<typeof createServer>[] = [];
afterEach(() => {
  for (const server of servers.splice(0)) server.close();
});

describe('claimPath', () => {
  it("takes one path from a server's existing listeners and gives it back", async () => {
    const app = createServer((_request, response) => response.end('app'));
    servers.push(app);
    await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(app.address() as AddressInfo).port}`;
    const restore = claimPath(
      app,
      'request',
      (request) => request.url?.startsWith('/mine') === true,
      (_request: IncomingMessage, response: ServerResponse) => response.end('mine'),
    );
    expect(await (await fetch(`${base}/mine/x`)).text()).toBe('mine');
    expect(await (await fetch(`${base}/other`)).text()).toBe('app');
    restore();
    expect(await (await fetch(`${base}/mine/x`)).text()).toBe('app');
    expect(app.listenerCount('request')).toBe(1);
  });
});
