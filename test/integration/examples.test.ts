import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);

describe('README example', () => {
  it('examples/quickstart.mjs runs as shown and prints what the README promises', async () => {
    const { stdout } = await run(process.execPath, ['examples/quickstart.mjs'], {
      timeout: 15_000,
    });
    expect(stdout).toContain('alice says hello');
    expect(stdout).toMatch(/server time: \d{4}-\d\d-\d\dT/);
  });
});
