// After `tsc -p tsconfig.build.json`: deletes what that build did not produce from dist/ (the
// output of sources since moved or deleted, of tests, and source maps, which the build no longer
// writes), so `npm pack` ships exactly the current build. Nothing is deleted before the build, so
// dist/ never disappears under a process that is using it.
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = join(root, 'dist');

/** Whether dist/<path> is the build's output of a source under src/ that the build compiles. */
function built(path) {
  const base = path.replace(/(\.d\.ts|\.js)$/, '');
  if (base === path || base.endsWith('.test')) return false;
  return (
    existsSync(join(root, 'src', `${base}.ts`)) || existsSync(join(root, 'src', `${base}.tsx`))
  );
}

const pruned = [];
for (const entry of readdirSync(dist, { recursive: true, withFileTypes: true })) {
  if (!entry.isFile()) continue;
  // parentPath: Node 20.12+; path: earlier 20.x.
  const path = relative(dist, join(entry.parentPath ?? entry.path, entry.name));
  if (built(path)) continue;
  rmSync(join(dist, path));
  pruned.push(path);
}
if (pruned.length > 0) console.log(`prune-dist: removed ${pruned.length} stale files from dist/`);
