/**
 * `switchboard inspect`: the inspector in front of any WebSocket backend (Litestar, FastAPI,
 * Django Channels, Phoenix, Socket.IO…), as a recording reverse proxy with the live panel.
 * main.ts hands it the arguments after `inspect`.
 */
import { parseArgs } from 'node:util';
import { type InspectorProxy, inspectProxy, type ProxyOptions } from '../inspector/proxy.js';

export const INSPECT_USAGE = `Usage: switchboard inspect --upstream <url> [options]

Puts a recording proxy in front of any WebSocket backend: point your client at the proxy, watch
every connection and frame at /inspector, replay frames, export a session as a test.

Options:
  -u, --upstream <url>       The backend: ws://, wss://, http:// or https://host:port[/base] (required)
  -p, --port <port>          Port the proxy listens on (default 9000; 0: any free port)
  --host <address>           Address it listens on (default 127.0.0.1)
  --path-prefix <path>       Forward only paths under it, replacing it by the upstream's base
                             path (default /: everything)
  --panel-port <port>        Serve the panel on its own port instead of /inspector on the proxy's
  --panel-path <path>        The panel's path (default /inspector)
  --allowed-host <name>      A Host name the panel answers besides loopback ones (repeatable)
  --change-host              Send the upstream's host in the Host header, not the client's
  --no-binary-preview        Show binary frames as their size only, no hex preview
  --sample <n>               Track one connection in n (default 1: all)
  -q, --quiet                No line per connection
  -h, --help                 This help

Environment:
  INSPECTOR_CREDENTIAL       Guards the panel, its exports and its socket (needed to reach the
                             panel from another machine, or to act on a proxy that listens
                             on a non-loopback address)

Examples:
  switchboard inspect --upstream ws://127.0.0.1:8000             # Litestar, FastAPI (uvicorn)
  switchboard inspect --upstream ws://127.0.0.1:4000 --port 4001  # Phoenix
`;

export class InspectUsageError extends Error {}

function portOf(value: string, name: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65_535)
    throw new InspectUsageError(`${name} must be a port number (0-65535), not "${value}"`);
  return port;
}

/** The proxy's options from the command line (and INSPECTOR_CREDENTIAL); throws InspectUsageError. */
export function parseInspectArgs(
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
): (ProxyOptions & { quiet: boolean; port: number }) | 'help' {
  let values: ReturnType<typeof parse>['values'];
  function parse() {
    return parseArgs({
      args: argv,
      allowPositionals: false,
      strict: true,
      options: {
        upstream: { type: 'string', short: 'u' },
        port: { type: 'string', short: 'p' },
        host: { type: 'string' },
        'path-prefix': { type: 'string' },
        'panel-port': { type: 'string' },
        'panel-path': { type: 'string' },
        'allowed-host': { type: 'string', multiple: true },
        'change-host': { type: 'boolean' },
        'no-binary-preview': { type: 'boolean' },
        sample: { type: 'string' },
        quiet: { type: 'boolean', short: 'q' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  }
  try {
    ({ values } = parse());
  } catch (error) {
    throw new InspectUsageError((error as Error).message);
  }
  if (values.help) return 'help';
  if (values.upstream === undefined) throw new InspectUsageError('--upstream is required');
  let sample: number | undefined;
  if (values.sample !== undefined) {
    sample = Number(values.sample);
    if (!Number.isInteger(sample) || sample < 1)
      throw new InspectUsageError(
        `--sample must be a whole number of 1 or more, not "${values.sample}"`,
      );
  }
  const credential = env['INSPECTOR_CREDENTIAL'];
  return {
    upstream: values.upstream,
    port: values.port === undefined ? 9000 : portOf(values.port, '--port'),
    quiet: values.quiet === true,
    ...(values.host !== undefined && { host: values.host }),
    ...(values['path-prefix'] !== undefined && { pathPrefix: values['path-prefix'] }),
    ...(values['panel-port'] !== undefined && {
      panelPort: portOf(values['panel-port'], '--panel-port'),
    }),
    ...(values['panel-path'] !== undefined && { panelPath: values['panel-path'] }),
    ...(values['allowed-host'] !== undefined && { allowedHosts: values['allowed-host'] }),
    ...(values['change-host'] === true && { changeHost: true }),
    ...(values['no-binary-preview'] === true && { showBinaryPreview: false }),
    ...(sample !== undefined && { sample }),
    ...(credential !== undefined && credential !== '' && { credential }),
  };
}

export interface InspectIo {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
  env: NodeJS.ProcessEnv;
  /** Stop cleanly and exit on SIGINT and SIGTERM (the command); off for tests. Default true. */
  handleSignals?: boolean;
}

const isLoopback = (host: string) => host === 'localhost' || host === '::1' || /^127\./.test(host);

/**
 * Runs `switchboard inspect <argv>`. Resolves `{ code }` when the command is done at once (help:
 * 0, usage error: 2, could not start: 1), or `{ proxy }` once the proxy is running; it then runs
 * until SIGINT or SIGTERM, which close it and exit 0.
 */
export async function runInspect(
  argv: string[],
  io: InspectIo = { stdout: process.stdout, stderr: process.stderr, env: process.env },
): Promise<{ code: number } | { proxy: InspectorProxy }> {
  let options: ReturnType<typeof parseInspectArgs>;
  try {
    options = parseInspectArgs(argv, io.env);
  } catch (error) {
    if (!(error instanceof InspectUsageError)) throw error;
    io.stderr.write(
      `switchboard inspect: ${error.message}\nRun "switchboard inspect --help" for usage.\n`,
    );
    return { code: 2 };
  }
  if (options === 'help') {
    io.stdout.write(INSPECT_USAGE);
    return { code: 0 };
  }
  const { quiet, ...proxyOptions } = options;
  const host = options.host ?? '127.0.0.1';
  if (!isLoopback(host) && options.credential === undefined)
    io.stderr.write(
      `switchboard inspect: warning: listening on ${host} without INSPECTOR_CREDENTIAL: the panel answers ` +
        'loopback Host names only (--allowed-host adds more) and its actions are off\n',
    );
  let proxy: InspectorProxy;
  try {
    proxy = await inspectProxy({
      ...proxyOptions,
      ...(!quiet && { log: (line: string) => io.stdout.write(`${line}\n`) }),
    });
  } catch (error) {
    io.stderr.write(`switchboard inspect: could not start: ${(error as Error).message}\n`);
    return { code: error instanceof TypeError ? 2 : 1 };
  }
  const ws = proxy.url.replace(/^http/, 'ws');
  io.stdout.write(
    `switchboard inspect: ${ws} → ${options.upstream}\n` +
      `  panel: ${proxy.panelUrl}${options.credential ? ' (INSPECTOR_CREDENTIAL)' : ''}\n` +
      `  point your client at ${ws}${options.pathPrefix && options.pathPrefix !== '/' ? options.pathPrefix : '/…'}\n`,
  );
  if (io.handleSignals ?? true) {
    const stop = (signal: string) => {
      process.once(signal, () => process.exit(1));
      setTimeout(() => process.exit(1), 5_000).unref();
      proxy.close().then(
        () => process.exit(0),
        () => process.exit(1),
      );
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  }
  return { proxy };
}
