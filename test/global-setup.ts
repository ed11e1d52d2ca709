import { execFileSync } from 'node:child_process';
import type { TestProject } from 'vitest/node';
import { buildDemo, tempDist } from './demo-build.js';

/**
 * Tests that import the package by its name, run the examples or start the demo need a current
 * dist/ and the demo's built page. The page goes to a temporary folder (the demo tests serve it
 * with DEMO_DIST), so `npm test` leaves demo/dist, which `npm start` built, alone.
 */
export default function setup(project: TestProject): () => void {
  execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
  const { dir, remove } = tempDist();
  buildDemo(dir);
  project.provide('demoDist', dir);
  return remove;
}
