import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type {} from 'vitest';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The demo page built for the tests (test/global-setup.ts), served with DEMO_DIST. */
    demoDist: string;
  }
}

/**
 * Builds the demo's page into `outDir`, never into demo/dist (what `npm start` serves stays the
 * production build it made). A development build on purpose: StrictMode's double effects run
 * and React's warnings reach the console, which the browser tests watch.
 */
export function buildDemo(outDir: string): void {
  execFileSync(
    'npx',
    ['vite', 'build', '--config', 'demo/vite.config.mjs', '--outDir', outDir, '--emptyOutDir'],
    { stdio: 'inherit', env: { ...process.env, NODE_ENV: 'development' }, timeout: 120_000 },
  );
}

/** A fresh temporary folder for a build, removed when `remove` is called. */
export function tempDist(): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'switchboard-demo-'));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
