import { describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { INSPECT_USAGE, parseInspectArgs, runInspect } from '../../src/cli/inspect.js';
import { onCleanup, waitFor } from '../helpers.js';

/** `switchboard inspect` (src/cli/inspect.ts), run in-process. */

function output() {
  const out: string[] = [];
  const err: string[] = [];
  return {
    out,
    err,
    io: {
      stdout: { write: (text: string) => out.push(text) },
      stderr: { write: (text: string) => err.push(text) },
      env: {},
      handleSignals: false,
    },
  };
}

describe('switchboard inspect: arguments', () => {
  it('reads every option, with 9000 as the default port and the credential from the environment', () => {
    expect(parseInspectArgs(['--upstream', 'ws://127.0.0.1:8000'], {})).toEqual({
      upstream: 'ws://127.0.0.1:8000',
      port: 9000,
      quiet: false,
    });
    expect(
      parseInspectArgs(
        [
          '-u',
          'wss://api.example/socket',
          '-p',
          '0',
          '--host',
          '0.0.0.0',
          '--path-prefix',
          '/live',
          '--panel-port',
          '9001',
          '--panel-path',
          '/ops',
          '--allowed-host',
          'dev.box',
          '--allowed-host',
          'other.box:9000',
          '--change-host',
          '--no-binary-preview',
          '--sample',
          '10',
          '-q',
        ],
        { INSPECTOR_CREDENTIAL: 'sesame' },
      ),
    ).toEqual({
      upstream: 'wss://api.example/socket',
      port: 0,
      host: '0.0.0.0',
      pathPrefix: '/live',
      panelPort: 9001,
      panelPath: '/ops',
      allowedHosts: ['dev.box', 'other.box:9000'],
      changeHost: true,
      showBinaryPreview: false,
      sample: 10,
      quiet: true,
      credential: 'sesame',
    });
    expect(parseInspectArgs(['--help'])).toBe('help');
  });

  it('refuses what it cannot use, with exit code 2', async () => {
    for (const argv of [
      [],
      ['--upstream'],
      ['--upstream', 'ws://x', '--port', 'http'],
      ['--upstream', 'ws://x', '--port', '70000'],
      ['--upstream', 'ws://x', '--sample', '0'],
      ['--upstream', 'ws://x', '--bogus'],
      ['--upstream', 'ws://x', 'positional'],
    ]) {
      const { io, err } = output();
      expect(await runInspect(argv, io)).toEqual({ code: 2 });
      expect(err.join('')).toMatch(/^switchboard inspect: .+\nRun "switchboard inspect --help"/);
    }
    const { io, err } = output();
    expect(await runInspect(['--upstream', 'ftp://x', '-p', '0'], io)).toEqual({ code: 2 });
    expect(err.join('')).toContain('upstream must be ws://, wss://, http:// or https://');
    const help = output();
    expect(await runInspect(['-h'], help.io)).toEqual({ code: 0 });
    expect(help.out.join('')).toBe(INSPECT_USAGE);
  });
});

describe('switchboard inspect: running', () => {
  it('proxies to the upstream, prints where the panel is and a line per connection', async () => {
    const upstream = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    upstream.on('connection', (ws) => ws.on('message', (data) => ws.send(`echo:${data}`)));
    await new Promise((resolve) => upstream.once('listening', resolve));
    onCleanup(() => new Promise((resolve) => upstream.close(resolve)));
    const port = (upstream.address() as { port: number }).port;
    const { io, out, err } = output();
    const outcome = await runInspect(['--upstream', `ws://127.0.0.1:${port}`, '--port', '0'], io);
    if (!('proxy' in outcome)) throw new Error(`did not start: ${err.join('')}`);
    const { proxy } = outcome;
    onCleanup(() => proxy.close());
    const ws = proxy.url.replace('http', 'ws');
    expect(out[0]).toBe(
      `switchboard inspect: ${ws} → ws://127.0.0.1:${port}\n  panel: ${proxy.panelUrl}\n  point your client at ${ws}/…\n`,
    );
    expect(err).toEqual([]);

    const client = new WebSocket(`${ws}/feed?api_key=SECRET`);
    const got = new Promise<string>((resolve) => client.once('message', (d) => resolve(String(d))));
    await new Promise((resolve) => client.once('open', resolve));
    client.send('hi');
    expect(await got).toBe('echo:hi');
    client.close(1000, 'done');
    await waitFor(() => out.length === 3, 5_000, 'the close line');
    expect(out[1]).toMatch(/^→ \w{12} \/feed\?api_key=%5Bredacted%5D\n$/);
    expect(out[2]).toMatch(/^✕ \w{12} 1000 done\n$/);

    // A port in use: exit code 1, said plainly.
    const busy = output();
    expect(
      await runInspect(
        ['--upstream', `ws://127.0.0.1:${port}`, '--port', String(proxy.port)],
        busy.io,
      ),
    ).toEqual({ code: 1 });
    expect(busy.err.join('')).toMatch(/could not start: .*EADDRINUSE/);
  });

  it('warns when it listens beyond loopback without a credential', async () => {
    // TEST-NET-1: no such local address, so it warns and then cannot bind (nothing is exposed).
    const { io, err } = output();
    const outcome = await runInspect(
      ['--upstream', 'ws://127.0.0.1:9', '--port', '0', '--host', '192.0.2.1'],
      io,
    );
    if ('proxy' in outcome) onCleanup(() => outcome.proxy.close());
    expect(outcome).toEqual({ code: 1 });
    expect(err.join('')).toMatch(/warning: listening on 192\.0\.2\.1 without INSPECTOR_CREDENTIAL/);
  });
});
