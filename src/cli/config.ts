import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { configSpec, type ObjectSpec, type Permission, type Spec } from './schema.js';

/**
 * Loading the standalone server's configuration: defaults < file < environment < --set, each
 * value checked against the schema (src/cli/schema.ts), every problem named by its key.
 */

export interface ChannelConfig {
  /** `ttlSeconds`, the old name of `ttlMs`, is read into `ttlMs`. */
  history: { size: number; ttlMs: number };
  presence: boolean;
  /** Off, or on with these settings (the library's `streams: boolean | { … }`). */
  streams: false | { timeoutMs: number; history: { size: number; ttlMs: number } };
  ephemeral: string[];
  events: string[];
  subscribe: Permission;
  publish: Permission;
  presenceRead: Permission;
  historyRead: Permission;
  proxy?: string;
}

/** The validated configuration, every default filled in (mirrors configSpec). */
export interface Config {
  port: number;
  host: string;
  path: string;
  nodeReportMs?: number;
  auth: {
    jwt: {
      secret?: string;
      publicKey?: string;
      publicKeyFile?: string;
      jwksUrl?: string;
      audience?: string;
      issuer?: string;
      algorithms?: string[];
      clockToleranceSec: number;
      requireExp: boolean;
      maxTokenAgeMs?: number;
      jwks: { cooldownMs: number; cacheMaxAgeMs: number; timeoutMs: number };
    };
    anonymous: boolean;
    rolesClaim: string;
  };
  channels: Record<string, ChannelConfig>;
  limits: {
    maxMessageBytes: number;
    hardMaxMessageBytes?: number;
    messagesPerSecond: number;
    burst?: number;
    maxRateLimited: number;
    maxBatch: number;
    maxSubscriptions: number;
    maxStreams: number;
    maxConnectionsPerUser: number;
    maxConnections?: number;
    maxQueueBytes: number;
    maxInFlight: number;
    authTimeoutMs: number;
    allowedOrigins: string[];
    closeTimeoutMs: number;
  };
  heartbeat: { intervalMs: number };
  redis: {
    url?: string;
    prefix: string;
    sharded: boolean;
    commandTimeoutMs?: number;
    connectTimeoutMs?: number;
    positionCheckMs?: number;
  };
  broker: {
    idempotencyWindowMs: number;
    idleChannelTtlMs?: number;
    /** The SQLite broker when `file` is set; unset options are sqliteBroker's defaults. */
    sqlite: {
      file?: string;
      synchronous?: 'full' | 'normal';
      maxBytes?: number;
      integrityCheck?: boolean;
      lockTimeoutMs?: number;
    };
  };
  api: { key?: string; path: string; maxBodyBytes: number; maxBatch: number };
  proxy: {
    connect?: string;
    authorize?: string;
    rpc?: string;
    timeoutMs: number;
    maxResponseBytes: number;
    headers: Record<string, string>;
  };
  inspector: { enabled: boolean; path: string; credential?: string; actions: boolean };
  metrics: {
    enabled: boolean;
    path: string;
    prefix: string;
    processMetrics: boolean;
    port?: number;
    host: string;
  };
  health: {
    enabled: boolean;
    path: string;
    readyPath: string;
    timeoutMs: number;
    port?: number;
    host: string;
  };
  log: {
    level: string;
    channel?: string;
    channelLevel: string;
    keep: number;
    collapseMs: number;
    maxPerSecond: number;
    subscribe: Permission;
  };
  /** The old name of `limits.closeTimeoutMs`: always the same value. */
  shutdown: { timeoutMs: number };
}

/** A configuration problem; the message names the key (or variable, or flag) at fault. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
  }
}

type Tree = Record<string, unknown>;

// ── environment variables ──────────────────────────────────────────────────────────────────

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
function fromText(text: string, spec: Spec): unknown {
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

function getPath(tree: Tree, path: readonly string[]): unknown {
  let node: unknown = tree;
  for (const key of path) {
    if (typeof node !== 'object' || node === null || Array.isArray(node)) return undefined;
    node = (node as Tree)[key];
  }
  return node;
}

function deletePath(tree: Tree, path: readonly string[]): void {
  const parent = getPath(tree, path.slice(0, -1));
  if (typeof parent === 'object' && parent !== null) delete (parent as Tree)[path.at(-1)!];
}

function setPath(tree: Tree, path: readonly string[], value: unknown): void {
  let node = tree;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[key] = {};
    node = node[key] as Tree;
  }
  node[path[path.length - 1]!] = value;
}

// ── validation ─────────────────────────────────────────────────────────────────────────────

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

function suggestion(key: string, known: string[]): string {
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

function validate(value: unknown, spec: Spec, path: string, problems: string[]): unknown {
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
function crossCheck(config: Config, problems: string[]): void {
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

/**
 * What is valid but probably not meant: `switchboard check` prints these on stderr (and still
 * exits 0), `switchboard serve` logs them at warn.
 */
export function configWarnings(config: Config): string[] {
  const warnings: string[] = [];
  if (Object.keys(config.channels).length === 0)
    warnings.push(
      `channels: none configured, so every subscribe${config.log.channel ? ` (but to the log channel ${config.log.channel})` : ''} will be refused; add patterns under channels, e.g. "chat:*": {}`,
    );
  return warnings;
}

/** Keys whose values `switchboard check` never prints. */
const SECRET_KEY = /secret|key|credential|headers/i;

/**
 * The configuration as `switchboard check` prints it: JSON, with "(hidden)" for every value
 * under a key that names a secret and for every proxy header (they carry shared secrets).
 */
export function printableConfig(config: Config): string {
  const headers = config.proxy.headers;
  return JSON.stringify(
    config,
    function hide(this: unknown, key: string, value: unknown) {
      const secret = this === headers || SECRET_KEY.test(key);
      return secret && typeof value !== 'object' ? '(hidden)' : value;
    },
    2,
  );
}
