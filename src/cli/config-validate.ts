import type { Tree } from './config-keys.js';
import type { Config } from './config-types.js';
import type { Permission, Spec } from './spec.js';

/**
 * Checking the configuration against the schema: each value against its option's spec (with
 * defaults filled in and old names in another unit converted), then the rules that join several
 * options. Problems are collected, each naming its key, never thrown.
 */

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = current;
    }
  }
  return row[b.length]!;
}

export function suggestion(key: string, known: string[]): string {
  const close = known
    .map((candidate) => ({
      candidate,
      d: distance(key.toLowerCase(), candidate.toLowerCase()),
    }))
    .filter(({ d }) => d <= Math.max(2, Math.floor(key.length / 3)))
    .sort((a, b) => a.d - b.d)[0];
  return close ? ` (did you mean "${close.candidate}"?)` : '';
}

function describe(value: unknown, spec: Spec): string {
  if (spec.secret) return 'a value (hidden)';
  return JSON.stringify(value) ?? String(value);
}

export function validate(value: unknown, spec: Spec, path: string, problems: string[]): unknown {
  const fail = (expected: string) => {
    problems.push(`${path}: expected ${expected}, got ${describe(value, spec)}`);
    return undefined;
  };
  switch (spec.type) {
    case 'string': {
      if (value === undefined) return spec.default;
      if (typeof value !== 'string') return fail('a string');
      if (spec.enum && !spec.enum.includes(value)) return fail(`one of ${spec.enum.join(', ')}`);
      if (spec.url) {
        let protocol: string;
        try {
          protocol = new URL(value).protocol;
        } catch {
          return fail('a URL');
        }
        if (!spec.url.includes(protocol)) return fail(`a ${spec.url.join(' or ')} URL`);
      }
      return value;
    }
    case 'integer': {
      if (value === undefined) return spec.default;
      if (typeof value !== 'number' || !Number.isInteger(value)) return fail('an integer');
      if (spec.min !== undefined && value < spec.min) return fail(`an integer >= ${spec.min}`);
      if (spec.max !== undefined && value > spec.max) return fail(`an integer <= ${spec.max}`);
      return value;
    }
    case 'boolean':
      if (value === undefined) return spec.default;
      return typeof value === 'boolean' ? value : fail('true or false');
    case 'list':
      if (value === undefined) return spec.default ? [...spec.default] : undefined;
      if (!Array.isArray(value) || !value.every((item) => typeof item === 'string'))
        return fail('a list of strings');
      return value;
    case 'permission': {
      if (value === undefined) return spec.default;
      if (value === 'all' || value === 'none' || value === 'owner' || value === 'proxy')
        return value;
      if (value === true) return 'all';
      if (value === false) return 'none';
      const roles = (value as { roles?: unknown } | null)?.roles;
      if (
        typeof value === 'object' &&
        Object.keys(value as object).length === 1 &&
        Array.isArray(roles) &&
        roles.length > 0 &&
        roles.every((role) => typeof role === 'string')
      )
        return { roles };
      return fail('all, none, owner, proxy or { roles: [...] }');
    }
    case 'map': {
      if (value === undefined) return {};
      if (typeof value !== 'object' || value === null || Array.isArray(value))
        return fail(`a map of ${spec.key} to settings`);
      const out: Tree = {};
      for (const [key, item] of Object.entries(value))
        out[key] = validate(item ?? {}, spec.value, `${path}.${JSON.stringify(key)}`, problems);
      return out;
    }
    case 'object': {
      if (spec.toggle) {
        if (value === undefined || value === null || value === false) return false;
        if (value === true) value = {};
      }
      if (value === undefined || value === null) value = {};
      if (typeof value !== 'object' || Array.isArray(value))
        return fail(spec.toggle ? 'true, false or a section (a map)' : 'a section (a map)');
      const known = Object.keys(spec.fields);
      const here = (key: string) => (path ? `${path}.${key}` : key);
      const given: Tree = { ...(value as Tree) };
      for (const key of Object.keys(given)) {
        if (!Object.hasOwn(spec.fields, key))
          problems.push(`${here(key)}: unknown option${suggestion(key, known)}`);
      }
      // Old names in another unit are read as the option they stand for.
      for (const [key, child] of Object.entries(spec.fields)) {
        const renamed = child.oldNameOf;
        if (!renamed || given[key] === undefined) continue;
        const old = validate(given[key], child, here(key), problems);
        delete given[key];
        if (typeof old !== 'number') continue;
        const current = old * renamed.factor;
        if (given[renamed.key] !== undefined && given[renamed.key] !== current)
          problems.push(
            `${here(key)}: the old name of ${here(renamed.key)} (x${renamed.factor}), set to another value; keep one`,
          );
        else given[renamed.key] = current;
      }
      const out: Tree = {};
      for (const [key, child] of Object.entries(spec.fields)) {
        if (child.oldNameOf) continue;
        const result = validate(given[key], child, here(key), problems);
        if (result !== undefined) out[key] = result;
      }
      return out;
    }
  }
}

/** Rules that join several options. */
export function crossCheck(config: Config, problems: string[]): void {
  const jwt = config.auth.jwt;
  const keys = (['secret', 'publicKey', 'publicKeyFile', 'jwksUrl'] as const).filter(
    (key) => jwt[key] !== undefined,
  );
  if (keys.length > 1)
    problems.push(`auth.jwt: set only one of ${keys.map((key) => `auth.jwt.${key}`).join(', ')}`);
  if (keys.length === 0 && !config.proxy.connect && !config.auth.anonymous)
    problems.push(
      'auth.jwt.secret: no way to authenticate: set auth.jwt.secret (or publicKey, publicKeyFile, jwksUrl), proxy.connect, or auth.anonymous: true',
    );
  if (keys.length > 0 && config.proxy.connect)
    problems.push('proxy.connect: set either proxy.connect or auth.jwt, not both');
  const usesProxy = (permission: Permission) => permission === 'proxy';
  for (const [pattern, channel] of Object.entries(config.channels)) {
    const needs = [channel.subscribe, channel.publish, channel.presenceRead, channel.historyRead];
    if (needs.some(usesProxy) && !channel.proxy && !config.proxy.authorize)
      problems.push(
        `channels.${JSON.stringify(pattern)}: a "proxy" permission needs proxy.authorize or this pattern's proxy`,
      );
    if (pattern.startsWith('$'))
      problems.push(`channels.${JSON.stringify(pattern)}: channels starting with "$" are reserved`);
  }
  if (config.redis.url && config.broker.sqlite.file !== undefined)
    problems.push(
      'broker.sqlite.file: set either redis.url (nodes sharing one Redis) or broker.sqlite.file (--data-dir; one durable node), not both',
    );
  const file = config.broker.sqlite.file;
  // SQLite's in-memory and URI names would keep nothing, or not where the path says.
  if (file !== undefined && (file === '' || file === ':memory:' || file.startsWith('file:')))
    problems.push(
      `broker.sqlite.file: expected the path of a database file, got ${JSON.stringify(file)}`,
    );
  if (usesProxy(config.log.subscribe) && !config.proxy.authorize)
    problems.push('log.subscribe: a "proxy" permission needs proxy.authorize');
  if (config.log.channel?.startsWith('$'))
    problems.push('log.channel: channels starting with "$" are reserved');
}
