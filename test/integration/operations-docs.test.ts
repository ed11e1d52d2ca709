import { readFileSync } from 'node:fs';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { leaves } from '../../src/cli/config-keys.js';
import { referenceMarkdown } from '../../src/cli/reference.js';
import { configSpec } from '../../src/cli/schema.js';
import type { ObjectSpec } from '../../src/cli/spec.js';
import { DEFAULTS } from '../../src/server/defaults.js';
import { openApiDocument } from '../../src/server/index.js';
import { resolveLimits } from '../../src/server/limits.js';
import { startServer } from '../helpers.js';

/** docs/operations.md is what an operator configures and monitors from: it must match the code. */
const doc = readFileSync(new URL('../../docs/operations.md', import.meta.url), 'utf8');

describe('docs/operations.md', () => {
  it('holds the configuration reference generated from the validating schema', () => {
    const begin = doc.indexOf('-->', doc.indexOf('config-reference:begin')) + 3;
    const end = doc.indexOf('<!-- config-reference:end');
    // The formatter pads table cells; compare what they hold. Run `npm run docs` when this fails.
    const cells = (table: string) =>
      table
        .trim()
        .split('\n')
        .map((line) => line.replace(/ *\| */g, '|').replace(/-{3,}/g, '---'));
    expect(cells(doc.slice(begin, end))).toEqual(cells(referenceMarkdown()));
  });

  it('documents every HTTP API operation', () => {
    const paths = openApiDocument().paths as Record<string, Record<string, unknown>>;
    for (const [path, methods] of Object.entries(paths)) {
      for (const method of Object.keys(methods))
        expect(doc).toContain(`\`${method.toUpperCase()} ${path}\``);
    }
  });

  it('documents every Switchboard metric, and only those', async () => {
    const registry = new Registry();
    await startServer({ metrics: { registry } });
    const served = new Set(registry.getMetricsAsArray().map((metric) => metric.name));
    const documented = new Set(doc.match(/switchboard_[a-z_]+/g));
    expect([...documented].sort()).toEqual([...served].sort());
  });

  it('every library limit, health and metrics option is in the CLI under its library name', () => {
    const section = (name: string) => Object.keys((configSpec.fields[name] as ObjectSpec).fields);
    expect(section('limits').sort()).toEqual(Object.keys(resolveLimits()).sort());
    for (const key of ['path', 'readyPath', 'timeoutMs', 'port', 'host'])
      expect(section('health')).toContain(key);
    for (const key of ['path', 'prefix', 'processMetrics', 'port', 'host'])
      expect(section('metrics')).toContain(key);
    const channel = (configSpec.fields.channels as { value: ObjectSpec }).value.fields;
    expect(Object.keys((channel.history as ObjectSpec).fields)).toEqual(
      expect.arrayContaining(['size', 'ttlMs']),
    );
    expect(Object.keys((channel.streams as ObjectSpec).fields)).toEqual([
      'timeoutMs',
      'compact',
      'history',
    ]);
    expect(DEFAULTS.health.host).toBe('127.0.0.1');
  });

  it('lists the library options the CLI lacks, none of which it has', () => {
    const start = doc.indexOf('What the library has and the CLI does not');
    expect(start).toBeGreaterThan(0);
    const table = doc.slice(start, doc.indexOf('\n\n', doc.indexOf('| ---', start)));
    // Rows about another form of an option the CLI has ("`auth.jwt.secret` as bytes") aside.
    const listed = table
      .split('\n')
      .map((row) => row.split(' | ')[0]!)
      .filter((cell) => !/ as | with /.test(cell))
      .flatMap((cell) => [...cell.matchAll(/`([a-zA-Z.<>]+)[^`]*`/g)].map((m) => m[1]!));
    expect(listed.length).toBeGreaterThanOrEqual(10);
    const channel = (configSpec.fields.channels as { value: ObjectSpec }).value;
    const cli = new Set(
      [...leaves(), ...leaves(channel, ['channels', '<pattern>'])].map(([path]) => path.join('.')),
    );
    expect(cli.has('channels.<pattern>.streams.timeoutMs')).toBe(true);
    for (const option of listed) expect(cli.has(option), option).toBe(false);
    expect(listed).toEqual(
      expect.arrayContaining(['auth.authenticate', 'channels.<pattern>.authorize', 'codec']),
    );
  });

  it('says the CLI listens on 127.0.0.1, and that proxy.connect with auth.jwt refuses to start', () => {
    const flat = doc.replace(/\s+/g, ' ');
    expect(flat).toContain('The server listens on **127.0.0.1** by default');
    expect(flat).toContain('`HOST=0.0.0.0`');
    expect(flat).toContain('**`proxy.connect` and `auth.jwt` exclude each other**');
    expect(flat).toContain('exit 2');
    expect(flat).toContain('node_modules/.bin/switchboard serve');
  });
});
