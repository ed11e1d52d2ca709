#!/usr/bin/env node
import { mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from './config.js';
import { configWarnings, printableConfig } from './config-print.js';
import { helpText, referenceMarkdown } from './reference.js';

/**
 * The `switchboard` command: parses the arguments, loads the configuration, runs `serve`,
 * `check` or `reference`, and turns signals into a graceful stop and outcomes into exit codes.
 */

const USAGE = `Usage: switchboard <command> [options]

Commands:
  serve      Run the server
  check      Validate the configuration and print it (secrets hidden)
  inspect    Record and replay any WebSocket backend through a proxy (switchboard inspect --help)
  reference  Print the configuration reference as Markdown

Options:
  -c, --config <file>     Configuration file (.json, .yaml, .yml); default $SWITCHBOARD_CONFIG
  -p, --port <port>       Same as --set port=<port>
  --data-dir <dir>        Keep channels and history in <dir>/switchboard.db (SQLite, durable on
                          one machine; needs better-sqlite3): --set broker.sqlite.file=<that>
  --set <option>=<value>  Set any option below (repeatable); lists are comma-separated
  -h, --help              This help
  -v, --version           The version

Precedence: defaults < file < environment < --set. Exit codes: 0 stopped cleanly, 1 failed,
2 bad configuration or usage, or a package the configuration needs is not installed.

Options (file key, type, default, environment):
`;

function version(): string {
  const packageJson = new URL('../../package.json', import.meta.url);
  return (JSON.parse(readFileSync(packageJson, 'utf8')) as { version: string }).version;
}

function usageError(message: string): never {
  process.stderr.write(`switchboard: ${message}\nRun "switchboard --help" for usage.\n`);
  process.exit(2);
}

async function main(argv: string[]): Promise<void> {
  // `inspect` has options of its own, which the server's strict parser below would refuse.
  if (argv[0] === 'inspect') {
    const { runInspect } = await import('./inspect.js');
    const outcome = await runInspect(argv.slice(1));
    if ('code' in outcome) process.exit(outcome.code);
    return; // runs until SIGINT/SIGTERM; runInspect closes the proxy and exits 0
  }
  let parsed: ReturnType<typeof parse>;
  function parse() {
    return parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        config: { type: 'string', short: 'c' },
        port: { type: 'string', short: 'p' },
        'data-dir': { type: 'string' },
        set: { type: 'string', multiple: true },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'v' },
      },
    });
  }
  try {
    parsed = parse();
  } catch (error) {
    usageError((error as Error).message);
  }
  const { values, positionals } = parsed;
  const command = positionals[0] ?? (values.version ? 'version' : 'help');
  if (values.help || command === 'help') {
    process.stdout.write(`${USAGE}${helpText()}\n`);
    return;
  }
  if (values.version || command === 'version') {
    process.stdout.write(`${version()}\n`);
    return;
  }
  if (command === 'reference') {
    process.stdout.write(`${referenceMarkdown()}\n`);
    return;
  }
  if (command !== 'serve' && command !== 'check') usageError(`unknown command "${command}"`);

  const file = values.config ?? process.env.SWITCHBOARD_CONFIG;
  const dataDir = values['data-dir'];
  if (dataDir === '') usageError('--data-dir needs a directory');
  const dataFile = dataDir !== undefined ? join(resolve(dataDir), 'switchboard.db') : undefined;
  const sets = [
    ...(values.port !== undefined ? [`port=${values.port}`] : []),
    ...(dataFile !== undefined ? [`broker.sqlite.file=${dataFile}`] : []),
    ...(values.set ?? []),
  ];
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig({ ...(file !== undefined && { file }), env: process.env, sets });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(
      `switchboard: invalid configuration\n${error.problems.map((p) => `  ${p}`).join('\n')}\n`,
    );
    process.exit(2);
  }
  if (command === 'check') {
    process.stdout.write(`${printableConfig(config)}\n`);
    // Valid, so still exit 0; but say what will surprise.
    for (const warning of configWarnings(config))
      process.stderr.write(`switchboard: warning: ${warning}\n`);
    return;
  }

  const { serve, SetupError, SHUTDOWN_BACKSTOP_MS } = await import('./serve.js');
  let running: Awaited<ReturnType<typeof serve>>;
  try {
    // The data directory is the server's own: made if missing (a file set by its path is not).
    if (dataFile !== undefined && config.broker.sqlite.file === dataFile)
      mkdirSync(resolve(dataDir!), { recursive: true });
    running = await serve(config);
  } catch (error) {
    process.stderr.write(`switchboard: could not start: ${(error as Error).message}\n`);
    process.exit(error instanceof SetupError ? 2 : 1);
  }
  const stop = (signal: string) => {
    // A second signal while draining means "now".
    process.once(signal, () => process.exit(1));
    // The drain is bounded by limits.closeTimeoutMs; this is the backstop if something hangs.
    setTimeout(() => process.exit(1), config.limits.closeTimeoutMs + SHUTDOWN_BACKSTOP_MS).unref();
    running.stop().then(
      () => process.exit(0),
      (error) => {
        running.server.logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}

await main(process.argv.slice(2));
