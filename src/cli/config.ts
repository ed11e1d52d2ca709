import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { parse as parseYaml } from 'yaml';
import {
  deletePath,
  envNames,
  fromText,
  getPath,
  leaves,
  setPath,
  type Tree,
} from './config-keys.js';
import type { Config } from './config-types.js';
import { crossCheck, suggestion, validate } from './config-validate.js';
import { configSpec } from './schema.js';

/**
 * Loading the standalone server's configuration: defaults < file < environment < --set, each
 * value checked against the schema (src/cli/schema.ts), every problem named by its key. Old
 * option names are read here as the option they stand for (and reported back under both).
 */

/** A configuration problem; the message names the key (or variable, or flag) at fault. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
  }
}

export interface LoadOptions {
  /** A .json, .yaml or .yml file. */
  file?: string;
  env?: Record<string, string | undefined>;
  /** `path=value` overrides from the command line (`--set limits.maxMessageBytes=131072`). */
  sets?: string[];
}

function readFile(file: string): Tree {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError([`${file}: cannot read (${(error as NodeJS.ErrnoException).code})`]);
  }
  let parsed: unknown;
  try {
    parsed = extname(file) === '.json' ? JSON.parse(text) : parseYaml(text);
  } catch (error) {
    throw new ConfigError([
      `${file}: not valid ${extname(file) === '.json' ? 'JSON' : 'YAML'}: ${(error as Error).message}`,
    ]);
  }
  if (parsed === null || parsed === undefined) return {};
  if (typeof parsed !== 'object' || Array.isArray(parsed))
    throw new ConfigError([`${file}: the top level must be a map of options`]);
  return parsed as Tree;
}

/** Options with an old name: [old path, current path]. */
function aliases(): [string[], string[]][] {
  return leaves().flatMap(([path, spec]) =>
    spec.aliasOf ? [[path, spec.aliasOf.split('.')] as [string[], string[]]] : [],
  );
}

/**
 * Builds the configuration: defaults, then the file, then environment variables, then --set
 * flags (later wins). Every problem found is reported at once, each naming its key. An option
 * given under its old name (`shutdown.timeoutMs`) counts as the option itself at that level.
 */
export function loadConfig(options: LoadOptions = {}): Config {
  const tree: Tree = options.file ? readFile(options.file) : {};
  const env = options.env ?? {};
  const problems: string[] = [];
  const renamed = aliases();
  const byPath = new Map(leaves().map(([path, spec]) => [path.join('.'), { path, spec }]));
  /** The key each aliased option was last given as, to name it in problems. */
  const givenAs = new Map<string, string>();

  for (const [old, current] of renamed) {
    const value = getPath(tree, old);
    if (value === undefined) continue;
    deletePath(tree, old);
    const present = getPath(tree, current);
    if (present !== undefined && !isDeepStrictEqual(present, value))
      problems.push(
        `${old.join('.')}: the old name of ${current.join('.')}, set to another value; keep one`,
      );
    else {
      setPath(tree, current, value);
      givenAs.set(current.join('.'), old.join('.'));
    }
  }
  for (const { path, spec } of byPath.values()) {
    if (spec.type === 'map' || spec.aliasOf) continue;
    const names = [
      ...envNames(path, spec),
      ...renamed
        .filter(([, current]) => current.join('.') === path.join('.'))
        .flatMap(([old]) => envNames(old, byPath.get(old.join('.'))!.spec)),
    ];
    const name = names.find((candidate) => env[candidate] !== undefined);
    if (name === undefined) continue;
    setPath(tree, path, fromText(env[name]!, spec));
    givenAs.delete(path.join('.'));
  }
  for (const set of options.sets ?? []) {
    const equals = set.indexOf('=');
    const key = equals === -1 ? set : set.slice(0, equals);
    let leaf = byPath.get(key);
    if (equals === -1 || !leaf) {
      const known = [...byPath.keys()];
      problems.push(
        equals === -1
          ? `--set ${set}: expected key=value`
          : `--set ${key}: unknown option${suggestion(key, known)}`,
      );
      continue;
    }
    const alias = leaf.spec.aliasOf;
    if (alias) leaf = byPath.get(alias)!;
    setPath(tree, leaf.path, fromText(set.slice(equals + 1), leaf.spec));
    if (alias) givenAs.set(alias, key);
    else givenAs.delete(key);
  }
  const found: string[] = [];
  const config = validate(tree, configSpec, '', found) as Config;
  for (const problem of found) {
    const key = problem.slice(0, problem.indexOf(':'));
    const old = givenAs.get(key);
    problems.push(old ? `${old} (now ${key})${problem.slice(key.length)}` : problem);
  }
  // The old names report the value of the option they stand for.
  for (const [old, current] of renamed)
    setPath(config as unknown as Tree, old, getPath(config as unknown as Tree, current));
  if (problems.length === 0) crossCheck(config, problems);
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}
