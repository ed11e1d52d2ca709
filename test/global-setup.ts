import { execFileSync } from 'node:child_process';

/** Tests that import the package by its name, or run the examples, need a current dist/. */
export default function setup(): void {
  execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
}
