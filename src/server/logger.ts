/** The subset of pino's interface the gateway logs through; pass a pino logger as is. */
export interface Logger {
  error(object: object, message?: string): void;
  warn(object: object, message?: string): void;
  info(object: object, message?: string): void;
  debug(object: object, message?: string): void;
}

const noop = () => {};

/** Without a logger, only what an operator must see reaches stderr. */
export const defaultLogger: Logger = {
  error: (object, message) => console.error(`[switchboard] ${message ?? 'error'}`, object),
  warn: (object, message) => console.warn(`[switchboard] ${message ?? 'warning'}`, object),
  info: noop,
  debug: noop,
};
