import type { Config } from './config-types.js';

/** What `switchboard check` prints about a loaded configuration: warnings, secret-free JSON. */

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
