/**
 * A consumer project: a temp folder holding the packed package, installed the way a user installs
 * it. Packing (not linking) the repo checks what a user really receives: the `files` list as well
 * as the exports map. Installs come from npm's cache where it can (`--prefer-offline`), at the
 * versions this repo has installed, so they take seconds; every step is bounded.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

export const run = promisify(execFile);
export const root = fileURLToPath(new URL('../..', import.meta.url));
export const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

/**
 * The environment minus npm's own variables: under `npm test` they point at this repo
 * (npm_config_local_prefix and friends), and the consumer's npm must not inherit them.
 */
export function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(
    Object.entries(process.env).filter(([key]) => !/^npm_/i.test(key) && key !== 'INIT_CWD'),
  );
}

/** `name@version` at the version installed in this repo (so npm's cache has it). */
export function pinned(name: string): string {
  const manifest = join(root, 'node_modules', name, 'package.json');
  return `${name}@${(JSON.parse(readFileSync(manifest, 'utf8')) as { version: string }).version}`;
}

export interface Consumer {
  dir: string;
  /** The packed tarball, inside `dir`. */
  tarball: string;
  /** `npm install` in the consumer; resolves to npm's output (stdout and stderr). */
  install(...specs: string[]): Promise<string>;
  /** Writes `source` to `name` in the consumer and runs it with node (bounded). */
  node(name: string, source: string, args?: string[]): Promise<{ stdout: string; stderr: string }>;
  remove(): Promise<void>;
}

/**
 * A new folder with a package.json (ESM) and the tarball of this repo: dist/ as it is now (the
 * suite's global setup builds it; `--ignore-scripts` so packing does not rebuild under running
 * tests). Nothing is installed yet.
 */
export async function createConsumer(prefix: string): Promise<Consumer> {
  const dir = await mkdtemp(join(tmpdir(), `switchboard-${prefix}-`));
  const packed = await run(
    npm,
    ['pack', '--ignore-scripts', '--pack-destination', dir, '--silent'],
    { cwd: root, env: cleanEnv(), timeout: 120_000 },
  );
  const tarball = join(dir, packed.stdout.trim().split('\n').pop()!);
  await writeFile(
    join(dir, 'package.json'),
    JSON.stringify({ name: 'consumer', private: true, type: 'module' }, null, 2),
  );
  return {
    dir,
    tarball,
    async install(...specs) {
      const { stdout, stderr } = await run(
        npm,
        ['install', ...specs, '--no-audit', '--no-fund', '--prefer-offline'],
        { cwd: dir, env: cleanEnv(), timeout: 180_000 },
      );
      return stdout + stderr;
    },
    async node(name, source, args = []) {
      const file = join(dir, name);
      await writeFile(file, source);
      return run(process.execPath, [...args, file], { cwd: dir, env: cleanEnv(), timeout: 15_000 });
    },
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}

/** The code block under "## Ten lines that run" in README.md. */
export function readmeQuickstart(): string {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Ten lines that run'));
  const block = /```js\n([\s\S]*?)```/.exec(section);
  if (!block) throw new Error('README.md: no js block under "## Ten lines that run"');
  return block[1]!;
}
