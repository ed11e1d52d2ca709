import type { Logger } from './types.js';

export type { Logger };

const noop = () => {};

/** Without a logger, only what an operator must see reaches stderr. */
export const defaultLogger: Logger = {
  error: (object, message) => console.error(`[switchboard] ${message ?? 'error'}`, object),
  warn: (object, message) => console.warn(`[switchboard] ${message ?? 'warning'}`, object),
  info: noop,
  debug: noop,
};
