import { parse as parseYaml } from 'yaml';
import { configSpec } from './schema.js';
import type { ObjectSpec, Spec } from './spec.js';

/**
 * Options by key: the schema's settable leaves, the environment variables each is read from,
 * text (from the environment or --set) turned into the option's type, and getting and setting
 * a dotted path in the raw configuration tree.
 */

export type Tree = Record<string, unknown>;

function snake(key: string): string {
  return key.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();
}

/** Every environment variable an option is read from, in order of precedence (first wins). */
export function envNames(path: readonly string[], spec: Spec): string[] {
  return [...(spec.env ?? []), `SWITCHBOARD_${path.map(snake).join('_')}`];
}

/** Every settable leaf: [path, spec]. Map entries are not leaves: their keys are the user's. */
export function leaves(spec: ObjectSpec = configSpec, path: string[] = []): [string[], Spec][] {
  const out: [string[], Spec][] = [];
  for (const [key, child] of Object.entries(spec.fields)) {
    if (child.type === 'object') out.push(...leaves(child, [...path, key]));
    else out.push([[...path, key], child]);
  }
  return out;
}

/** Turns text from the environment or a --set flag into the value the option's type wants. */
export function fromText(text: string, spec: Spec): unknown {
  switch (spec.type) {
    case 'integer':
      return /^-?\d+$/.test(text.trim()) ? Number(text) : text;
    case 'boolean':
      if (/^(true|1|yes|on)$/i.test(text)) return true;
      if (/^(false|0|no|off)$/i.test(text)) return false;
      return text;
    case 'list':
      return text === '' ? [] : text.split(',').map((item) => item.trim());
    case 'permission':
    case 'map':
      try {
        return parseYaml(text);
      } catch {
        return text;
      }
    default:
      return text;
  }
}

export function getPath(tree: Tree, path: readonly string[]): unknown {
  let node: unknown = tree;
  for (const key of path) {
    if (typeof node !== 'object' || node === null || Array.isArray(node)) return undefined;
    node = (node as Tree)[key];
  }
  return node;
}

export function deletePath(tree: Tree, path: readonly string[]): void {
  const parent = getPath(tree, path.slice(0, -1));
  if (typeof parent === 'object' && parent !== null) delete (parent as Tree)[path.at(-1)!];
}

export function setPath(tree: Tree, path: readonly string[], value: unknown): void {
  let node = tree;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[key] = {};
    node = node[key] as Tree;
  }
  node[path[path.length - 1]!] = value;
}
