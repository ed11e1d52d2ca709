import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './config.js';
import { envNames, leaves } from './config-keys.js';
import { configWarnings, printableConfig } from './config-print.js';
import { configSpec } from './schema.js';

/**
 * The standalone server's configuration loader, called directly: schema validation, the order
 * defaults < file < environment < --set, the old name of the close timeout, and secrets kept
 * out of errors and out of `switchboard check`. (test/integration/cli.test.ts runs the built CLI.)
 */

const AUTH = { auth: { jwt: { secret: 'a-secret-long-enough-for-hs256-tokens' } } };

function file(content: unknown, name = 'switchboard.yaml'): string {
  const path = join(mkdtempSync(join(tmpdir(), 'switchboard-config-')), name);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}

/** The problems loadConfig reports, or [] when it accepts the configuration. */
function problems(options: Parameters<typeof loadConfig>[0]): string[] {
  try {
    loadConfig(options);
    return [];
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return error.problems;
  }
}

describe('loadConfig: sources and precedence', () => {
  it('fills every default when only authentication is given', () => {
    const config = loadConfig({ env: { SWITCHBOARD_AUTH_ANONYMOUS: 'true' } });
    expect(config.port).toBe(8000);
    expect(config.auth.anonymous).toBe(true);
    expect(config.channels).toEqual({});
    expect(config.limits.allowedOrigins).toEqual([]);
    expect(config.proxy.headers).toEqual({});
    expect(config.log.subscribe).toEqual({ roles: ['admin'] });
  });

  it('reads YAML and JSON files', () => {
    const yaml = file(
      'port: 9001\nauth:\n  anonymous: true\nchannels:\n  "chat:*": { presence: true }\n',
    );
    const fromYaml = loadConfig({ file: yaml });
    expect(fromYaml.port).toBe(9001);
    expect(fromYaml.channels['chat:*']).toMatchObject({
      presence: true,
      subscribe: 'all',
      publish: 'none',
      history: { size: 0, ttlMs: 300_000 },
    });
    const json = file({ ...AUTH, port: 9002 }, 'switchboard.json');
    expect(loadConfig({ file: json }).port).toBe(9002);
    expect(
      loadConfig({ file: file('', 'empty.yaml'), env: { SWITCHBOARD_AUTH_ANONYMOUS: '1' } }).port,
    ).toBe(8000);
  });

  it('takes the environment over the file, and --set over the environment', () => {
    const path = file({ ...AUTH, port: 1, limits: { maxMessageBytes: 1000 } });
    const env = { PORT: '2', SWITCHBOARD_LIMITS_MAX_MESSAGE_BYTES: '2000' };
    expect(loadConfig({ file: path }).port).toBe(1);
    expect(loadConfig({ file: path, env }).port).toBe(2);
    const set = loadConfig({ file: path, env, sets: ['port=3', 'limits.maxMessageBytes=3000'] });
    expect([set.port, set.limits.maxMessageBytes]).toEqual([3, 3000]);
  });

  it('reads the conventional variable before the derived one', () => {
    expect(envNames(['port'], configSpec.fields.port!)).toEqual(['PORT', 'SWITCHBOARD_PORT']);
    const config = loadConfig({ env: { ...envOf(AUTH), PORT: '4', SWITCHBOARD_PORT: '5' } });
    expect(config.port).toBe(4);
  });

  it('turns environment text into the option type: integers, booleans, lists, permissions', () => {
    const config = loadConfig({
      env: {
        ...envOf(AUTH),
        SWITCHBOARD_LIMITS_ALLOWED_ORIGINS: 'https://a.example, https://b.example',
        SWITCHBOARD_INSPECTOR_ENABLED: 'yes',
        SWITCHBOARD_METRICS_ENABLED: 'off',
        SWITCHBOARD_LOG_SUBSCRIBE: '{ roles: [ops, admin] }',
        SWITCHBOARD_HEARTBEAT_INTERVAL_MS: '0',
      },
    });
    expect(config.limits.allowedOrigins).toEqual(['https://a.example', 'https://b.example']);
    expect([config.inspector.enabled, config.metrics.enabled]).toEqual([true, false]);
    expect(config.log.subscribe).toEqual({ roles: ['ops', 'admin'] });
    expect(config.heartbeat.intervalMs).toBe(0);
    expect(
      loadConfig({ env: { ...envOf(AUTH), SWITCHBOARD_LIMITS_ALLOWED_ORIGINS: '' } }).limits
        .allowedOrigins,
    ).toEqual([]);
  });

  it('has an environment variable for every settable option but maps', () => {
    for (const [path, spec] of leaves()) {
      if (spec.type === 'map') continue;
      expect(envNames(path, spec).at(-1)).toMatch(/^SWITCHBOARD_[A-Z0-9_]+$/);
    }
  });
});

/** The JWT secret of AUTH as the environment gives it. */
function envOf(config: typeof AUTH): Record<string, string> {
  return { SWITCHBOARD_AUTH_JWT_SECRET: config.auth.jwt.secret };
}

describe('loadConfig: validation', () => {
  it('reports every problem at once, each naming its key', () => {
    const found = problems({
      file: file({
        ...AUTH,
        port: 70_000,
        limits: { maxMesageBytes: 1000, maxSubscriptions: 'lots' },
        log: { level: 'loud' },
        redis: { url: 'http://redis:6379' },
        channels: { 'chat:*': { subscribe: 'everyone', history: { size: -1 } } },
      }),
    });
    expect(found).toEqual(
      expect.arrayContaining([
        'port: expected an integer <= 65535, got 70000',
        'limits.maxMesageBytes: unknown option (did you mean "maxMessageBytes"?)',
        'limits.maxSubscriptions: expected an integer, got "lots"',
        'log.level: expected one of fatal, error, warn, info, debug, trace, silent, got "loud"',
        'redis.url: expected a redis: or rediss: URL, got "http://redis:6379"',
        'channels."chat:*".subscribe: expected all, none, owner, proxy or { roles: [...] }, got "everyone"',
        'channels."chat:*".history.size: expected an integer >= 0, got -1',
      ]),
    );
    expect(found).toHaveLength(7);
  });

  it('never echoes a secret back in an error', () => {
    const found = problems({ file: file({ auth: { jwt: { secret: 12345 } } }) });
    expect(found).toEqual(['auth.jwt.secret: expected a string, got a value (hidden)']);
    expect(found.join('\n')).not.toContain('12345');
  });

  it('names a bad --set flag, with a suggestion', () => {
    expect(problems({ env: envOf(AUTH), sets: ['port'] })).toEqual([
      '--set port: expected key=value',
    ]);
    expect(problems({ env: envOf(AUTH), sets: ['limits.maxMesageBytes=1'] })).toEqual([
      '--set limits.maxMesageBytes: unknown option (did you mean "limits.maxMessageBytes"?)',
    ]);
  });

  it('checks the rules that join several options', () => {
    expect(problems({})).toEqual([
      expect.stringContaining('auth.jwt.secret: no way to authenticate'),
    ]);
    expect(
      problems({
        env: {
          SWITCHBOARD_AUTH_JWT_SECRET: 's',
          SWITCHBOARD_AUTH_JWT_JWKS_URL: 'https://a.example/jwks',
        },
      }),
    ).toEqual(['auth.jwt: set only one of auth.jwt.secret, auth.jwt.jwksUrl']);
    expect(
      problems({ env: { ...envOf(AUTH), SWITCHBOARD_PROXY_CONNECT: 'http://backend/connect' } }),
    ).toEqual(['proxy.connect: set either proxy.connect or auth.jwt, not both']);
    expect(
      problems({
        file: file({ ...AUTH, channels: { 'orders:*': { subscribe: 'proxy' }, $x: {} } }),
      }),
    ).toEqual([
      'channels."orders:*": a "proxy" permission needs proxy.authorize or this pattern\'s proxy',
      'channels."$x": channels starting with "$" are reserved',
    ]);
    expect(problems({ env: { ...envOf(AUTH), SWITCHBOARD_LOG_CHANNEL: '$logs' } })).toEqual([
      'log.channel: channels starting with "$" are reserved',
    ]);
    // One broker: Redis for many nodes or an SQLite file for one, never both.
    expect(
      problems({
        env: { ...envOf(AUTH), REDIS_URL: 'redis://r:6379' },
        sets: ['broker.sqlite.file=/data/switchboard.db'],
      }),
    ).toEqual([
      'broker.sqlite.file: set either redis.url (nodes sharing one Redis) or broker.sqlite.file (--data-dir; one durable node), not both',
    ]);
    for (const file of ['', ':memory:', 'file:x.db?mode=memory'])
      expect(problems({ env: { ...envOf(AUTH), SWITCHBOARD_BROKER_SQLITE_FILE: file } })).toEqual([
        `broker.sqlite.file: expected the path of a database file, got ${JSON.stringify(file)}`,
      ]);
  });

  it('names the file when it cannot be read or parsed', () => {
    expect(problems({ file: '/nonexistent/switchboard.yaml' })).toEqual([
      '/nonexistent/switchboard.yaml: cannot read (ENOENT)',
    ]);
    const badJson = file('{"port":', 'bad.json');
    expect(problems({ file: badJson })).toEqual([
      expect.stringMatching(/bad\.json: not valid JSON: /),
    ]);
    const badYaml = file('port: [1,\n', 'bad.yaml');
    expect(problems({ file: badYaml })).toEqual([
      expect.stringMatching(/bad\.yaml: not valid YAML: /),
    ]);
    const list = file('- 1\n- 2\n', 'list.yaml');
    expect(problems({ file: list })).toEqual([`${list}: the top level must be a map of options`]);
  });
});

describe('loadConfig: the close timeout and its old name', () => {
  const env = envOf(AUTH);

  it('is one value under both names, with the library default', () => {
    const config = loadConfig({ env });
    expect(config.limits.closeTimeoutMs).toBe(5_000);
    expect(config.shutdown.timeoutMs).toBe(config.limits.closeTimeoutMs);
  });

  it('takes the old name from a file, the environment or --set', () => {
    const fromFile = loadConfig({ env, file: file({ shutdown: { timeoutMs: 1_500 } }) });
    expect([fromFile.limits.closeTimeoutMs, fromFile.shutdown.timeoutMs]).toEqual([1_500, 1_500]);
    const fromEnv = loadConfig({ env: { ...env, SWITCHBOARD_SHUTDOWN_TIMEOUT_MS: '2500' } });
    expect(fromEnv.limits.closeTimeoutMs).toBe(2_500);
    const fromSet = loadConfig({ env, sets: ['shutdown.timeoutMs=3500'] });
    expect([fromSet.limits.closeTimeoutMs, fromSet.shutdown.timeoutMs]).toEqual([3_500, 3_500]);
  });

  it('keeps the usual precedence whichever name each level uses', () => {
    const path = file({ limits: { closeTimeoutMs: 1_000 } });
    const envOld = { ...env, SWITCHBOARD_SHUTDOWN_TIMEOUT_MS: '2000' };
    expect(loadConfig({ env: envOld, file: path }).limits.closeTimeoutMs).toBe(2_000);
    const both = { ...envOld, SWITCHBOARD_LIMITS_CLOSE_TIMEOUT_MS: '3000' };
    expect(loadConfig({ env: both }).limits.closeTimeoutMs).toBe(3_000);
    const set = loadConfig({ env: both, file: path, sets: ['shutdown.timeoutMs=4000'] });
    expect(set.shutdown.timeoutMs).toBe(4_000);
  });

  it('refuses both names with different values in one file, and names the key given', () => {
    const twice = file({ limits: { closeTimeoutMs: 1_000 }, shutdown: { timeoutMs: 2_000 } });
    expect(problems({ env, file: twice })).toEqual([
      'shutdown.timeoutMs: the old name of limits.closeTimeoutMs, set to another value; keep one',
    ]);
    const same = file({ limits: { closeTimeoutMs: 1_000 }, shutdown: { timeoutMs: 1_000 } });
    expect(loadConfig({ env, file: same }).shutdown.timeoutMs).toBe(1_000);
    expect(problems({ env, sets: ['shutdown.timeoutMs=-5'] })).toEqual([
      'shutdown.timeoutMs (now limits.closeTimeoutMs): expected an integer >= 0, got -5',
    ]);
  });
});

describe('printableConfig (switchboard check)', () => {
  it('hides secrets and proxy headers, and shows the rest', () => {
    const config = loadConfig({
      env: {
        ...envOf(AUTH),
        SWITCHBOARD_API_KEY: 'api-key-value',
        SWITCHBOARD_INSPECTOR_CREDENTIAL: 'panel-secret',
      },
      file: file({
        proxy: { headers: { authorization: 'Bearer backend-token', 'x-backend-secret': 's3' } },
      }),
    });
    const text = printableConfig(config);
    for (const secret of [
      AUTH.auth.jwt.secret,
      'api-key-value',
      'panel-secret',
      'backend-token',
      's3',
    ])
      expect(text).not.toContain(secret);
    const printed = JSON.parse(text);
    expect(printed.api.key).toBe('(hidden)');
    expect(printed.auth.jwt.secret).toBe('(hidden)');
    expect(printed.inspector.credential).toBe('(hidden)');
    expect(printed.proxy.headers).toEqual({
      authorization: '(hidden)',
      'x-backend-secret': '(hidden)',
    });
    expect(printed.port).toBe(8000);
    expect(printed.limits.maxMessageBytes).toBe(config.limits.maxMessageBytes);
  });
});

describe('loadConfig: every library option, under its library name', () => {
  const env = envOf(AUTH);

  it('history.ttlMs, with ttlSeconds still read as its old name', () => {
    const channels = (history: unknown) =>
      file({ channels: { 'chat:*': { history: { size: 10, ...(history as object) } } } });
    const ms = loadConfig({ env, file: channels({ ttlMs: 1_500 }) });
    expect(ms.channels['chat:*']!.history).toEqual({ size: 10, ttlMs: 1_500 });
    const seconds = loadConfig({ env, file: channels({ ttlSeconds: 60 }) });
    expect(seconds.channels['chat:*']!.history).toEqual({ size: 10, ttlMs: 60_000 });
    expect(
      loadConfig({ env, file: channels({ ttlSeconds: 2, ttlMs: 2_000 }) }).channels,
    ).toMatchObject({ 'chat:*': { history: { ttlMs: 2_000 } } });
    expect(problems({ env, file: channels({ ttlSeconds: 2, ttlMs: 3_000 }) })).toEqual([
      'channels."chat:*".history.ttlSeconds: the old name of channels."chat:*".history.ttlMs (x1000), set to another value; keep one',
    ]);
    expect(problems({ env, file: channels({ ttlSeconds: 0 }) })).toEqual([
      'channels."chat:*".history.ttlSeconds: expected an integer >= 1, got 0',
    ]);
  });

  it('streams: true, false or a section with timeoutMs', () => {
    const config = loadConfig({
      env,
      file: file({
        channels: { 'a:*': { streams: true }, 'b:*': { streams: { timeoutMs: 5_000 } }, 'c:*': {} },
      }),
    });
    expect(config.channels['a:*']!.streams).toMatchObject({ timeoutMs: 60_000 });
    expect(config.channels['b:*']!.streams).toMatchObject({ timeoutMs: 5_000 });
    expect(config.channels['c:*']!.streams).toBe(false);
    expect(
      problems({ env, file: file({ channels: { 'a:*': { streams: { timeout: 1 } } } }) }),
    ).toEqual(['channels."a:*".streams.timeout: unknown option (did you mean "timeoutMs"?)']);
    expect(problems({ env, file: file({ channels: { 'a:*': { streams: 'yes' } } }) })).toEqual([
      'channels."a:*".streams: expected true, false or a section (a map), got "yes"',
    ]);
  });

  it('latest: true, false or a section with maxEvents and ttlMs, with friendly errors', () => {
    const config = loadConfig({
      env,
      file: file({
        channels: { 'a:*': { latest: true }, 'b:*': { latest: { maxEvents: 8 } }, 'c:*': {} },
      }),
    });
    expect(config.channels['a:*']!.latest).toEqual({ maxEvents: 64, ttlMs: 86_400_000 });
    expect(config.channels['b:*']!.latest).toEqual({ maxEvents: 8, ttlMs: 86_400_000 });
    expect(config.channels['c:*']!.latest).toBe(false);
    expect(
      problems({ env, file: file({ channels: { 'a:*': { latest: { maxevents: 1 } } } }) }),
    ).toEqual(['channels."a:*".latest.maxevents: unknown option (did you mean "maxEvents"?)']);
    expect(problems({ env, file: file({ channels: { 'a:*': { latest: 'yes' } } }) })).toEqual([
      'channels."a:*".latest: expected true, false or a section (a map), got "yes"',
    ]);
    expect(
      problems({ env, file: file({ channels: { 'a:*': { latest: { maxEvents: 0 } } } }) }),
    ).toEqual(['channels."a:*".latest.maxEvents: expected an integer >= 1, got 0']);
  });

  it('the limits, the idempotency window and side ports from the environment', () => {
    const config = loadConfig({
      env: {
        ...env,
        SWITCHBOARD_LIMITS_HARD_MAX_MESSAGE_BYTES: '1048576',
        SWITCHBOARD_LIMITS_MAX_BATCH: '10',
        SWITCHBOARD_LIMITS_MAX_RATE_LIMITED: '5',
        SWITCHBOARD_LIMITS_MAX_STREAMS: '2',
        SWITCHBOARD_BROKER_IDEMPOTENCY_WINDOW_MS: '600000',
        SWITCHBOARD_METRICS_PORT: '9464',
        SWITCHBOARD_HEALTH_PORT: '9464',
        SWITCHBOARD_HEALTH_HOST: '0.0.0.0',
        HOST: '0.0.0.0',
      },
    });
    expect(config.limits).toMatchObject({
      hardMaxMessageBytes: 1_048_576,
      maxBatch: 10,
      maxRateLimited: 5,
      maxStreams: 2,
    });
    expect(config.broker.idempotencyWindowMs).toBe(600_000);
    expect(config.metrics).toMatchObject({ port: 9464, host: '127.0.0.1' });
    expect(config.health).toMatchObject({ port: 9464, host: '0.0.0.0' });
    expect(config.host).toBe('0.0.0.0');
  });

  it('the log channel: rate, collapse window and records kept, from a file or the environment', () => {
    const fromFile = loadConfig({
      file: file({
        ...AUTH,
        log: { channel: 'admin:logs', maxPerSecond: 200, collapseMs: 0, keep: 7 },
      }),
      env: {},
    });
    expect(fromFile.log).toMatchObject({ maxPerSecond: 200, collapseMs: 0, keep: 7 });
    const fromEnv = loadConfig({
      env: {
        ...env,
        SWITCHBOARD_LOG_MAX_PER_SECOND: '300',
        SWITCHBOARD_LOG_COLLAPSE_MS: '1500',
        SWITCHBOARD_LOG_KEEP: '9',
      },
    });
    expect(fromEnv.log).toMatchObject({ maxPerSecond: 300, collapseMs: 1500, keep: 9 });
    expect(problems({ file: file({ ...AUTH, log: { maxPerSecond: 0 } }), env: {} })).toEqual([
      expect.stringContaining('log.maxPerSecond'),
    ]);
  });

  it("the SQLite broker's options, sqliteBroker's names; unset, they are its defaults", () => {
    expect(loadConfig({ env }).broker.sqlite).toEqual({});
    const config = loadConfig({
      env: {
        ...env,
        SWITCHBOARD_BROKER_SQLITE_FILE: 'data/switchboard.db',
        SWITCHBOARD_BROKER_SQLITE_SYNCHRONOUS: 'normal',
        SWITCHBOARD_BROKER_SQLITE_MAX_BYTES: '1073741824',
        SWITCHBOARD_BROKER_SQLITE_INTEGRITY_CHECK: 'false',
        SWITCHBOARD_BROKER_SQLITE_LOCK_TIMEOUT_MS: '5000',
      },
    });
    expect(config.broker.sqlite).toEqual({
      file: 'data/switchboard.db',
      synchronous: 'normal',
      maxBytes: 1_073_741_824,
      integrityCheck: false,
      lockTimeoutMs: 5000,
    });
    expect(problems({ env, sets: ['broker.sqlite.maxBytes=100'] })).toEqual([
      'broker.sqlite.maxBytes: expected an integer >= 1048576, got 100',
    ]);
  });
});

describe('configWarnings (switchboard check, serve)', () => {
  it('warns that without channels every subscribe is refused', () => {
    const none = loadConfig({ env: envOf(AUTH) });
    expect(configWarnings(none)).toEqual([
      expect.stringContaining('channels: none configured, so every subscribe will be refused'),
    ]);
    const withLog = loadConfig({ env: { ...envOf(AUTH), SWITCHBOARD_LOG_CHANNEL: 'admin:logs' } });
    expect(configWarnings(withLog)[0]).toContain('(but to the log channel admin:logs)');
    const some = loadConfig({ env: envOf(AUTH), file: file({ channels: { 'chat:*': {} } }) });
    expect(configWarnings(some)).toEqual([]);
  });
});
