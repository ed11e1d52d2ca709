import { execFileSync } from 'node:child_process';

/**
 * Tests that import the package by its name, run the examples or start the demo need a current
 * dist/ and the demo's built page.
 */
export default function setup(): void {
  execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
  execFileSync('npx', ['vite', 'build', '--config', 'demo/vite.config.mjs'], { stdio: 'inherit' });
}
