import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { readmeQuickstart, root } from './consumer.js';

const run = promisify(execFile);

describe('README example', () => {
  it('examples/quickstart.mjs runs as shown, prints what the README promises and exits', async () => {
    const { stdout } = await run(process.execPath, ['examples/quickstart.mjs'], {
      cwd: root,
      timeout: 15_000,
    });
    expect(stdout).toContain('alice says hello');
    expect(stdout).toMatch(/server time: \d{4}-\d\d-\d\dT/);
  });

  it("is the README's code block, line for line", () => {
    expect(readFileSync(join(root, 'examples/quickstart.mjs'), 'utf8')).toBe(readmeQuickstart());
  });
});
