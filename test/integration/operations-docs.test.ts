import { readFileSync } from 'node:fs';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { referenceMarkdown } from '../../src/cli/reference.js';
import { openApiDocument } from '../../src/server/index.js';
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
});
