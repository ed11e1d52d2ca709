#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, printableConfig } from './config.js';
import { helpText, referenceMarkdown } from './reference.js';

/**
 * The `switchboard` command: parses the arguments, loads the configuration, runs `serve`,
 * `check` or `reference`, and turns signals into a graceful stop and outcomes into exit codes.
 */

const USAGE = `Usage: switchboard <command> [options]

Commands:
  serve      Run the server
  check      Validate the configuration and print it (secrets hidden)
  reference  Print the configuration reference as Markdown

Options:
  -c, --config <file>     Configuration file (.json, .yaml, .yml); default $SWITCHBOARD_CONFIG
  -p, --port <port>       Same as --set port=<port>
  --set <option>=<value>  Set any option below (repeatable); lists are comma-separated
  -h, --help              This help
  -v, --version           The version

Precedence: defaults < file < environment < --set. Exit codes: 0 stopped cleanly, 1 failed,
2 bad configuration or usage.

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
  let parsed: ReturnType<typeof parse>;
  function parse() {
    return parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        config: { type: 'string', short: 'c' },
        port: { type: 'string', short: 'p' },
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
  const sets = [
    ...(values.port !== undefined ? [`port=${values.port}`] : []),
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
    return;
  }

  const { serve } = await import('./serve.js');
  let running: Awaited<ReturnType<typeof serve>>;
  try {
    running = await serve(config);
  } catch (error) {
    process.stderr.write(`switchboard: could not start: ${(error as Error).message}\n`);
    process.exit(1);
  }
  const stop = (signal: string) => {
    // A second signal while draining means "now".
    process.once(signal, () => process.exit(1));
    // The drain is bounded by limits.closeTimeoutMs; this is the backstop if something hangs.
    setTimeout(() => process.exit(1), config.limits.closeTimeoutMs + 5_000).unref();
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
