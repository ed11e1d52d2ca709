import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { type BuildOptions, build } from 'esbuild';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** Half of Socket.IO's 12.8 KB (gzipped) browser client. */
const GZIP_BUDGET = 6400;

// Browser platform and no `external`s: a `node:` import or a Node built-in fails the build.
const browser = {
  absWorkingDir: root,
  bundle: true,
  minify: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  write: false,
  metafile: true,
  logLevel: 'silent',
} as const satisfies BuildOptions;

describe('browser bundle of switchboard/client', () => {
  it('builds for the browser without Node code and fits the gzip budget', async () => {
    const result = await build({ ...browser, entryPoints: ['src/client/index.ts'] });
    expect(result.errors).toEqual([]);

    const inputs = Object.keys(result.metafile.inputs);
    expect(inputs).toContain('src/client/index.ts');
    expect(inputs.filter((path) => /node_modules\/ws\//.test(path))).toEqual([]);
    expect(inputs.filter((path) => /^node:/.test(path))).toEqual([]);
    expect(inputs.filter((path) => path.startsWith('src/server/'))).toEqual([]);

    expect(result.outputFiles).toHaveLength(1);
    const output = result.outputFiles[0]!.contents;
    const gzipped = gzipSync(output, { level: 9 }).byteLength;
    console.log(
      `switchboard/client browser bundle: ${output.byteLength} B minified, ${gzipped} B gzipped (budget ${GZIP_BUDGET} B)`,
    );
    expect(gzipped).toBeLessThanOrEqual(GZIP_BUDGET);
  });

  it('fails the build when the entry imports a Node built-in (the check can fail)', async () => {
    const attempt = build({
      ...browser,
      stdin: {
        contents: "import { readFileSync } from 'node:fs';\nconsole.log(readFileSync);",
        resolveDir: root,
        sourcefile: 'virtual-entry.js',
        loader: 'js',
      },
    });
    await expect(attempt).rejects.toThrow(/node:fs/);
  });
});
