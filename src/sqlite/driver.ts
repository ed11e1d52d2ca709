/** Loading better-sqlite3 (an optional peer dependency) and the part of its API the broker uses. */

import { createRequire } from 'node:module';

/**
 * better-sqlite3 is an optional peer dependency: only apps that use this entry point install it.
 * It is loaded when switchboard/sqlite is imported, so a missing driver fails the import with a
 * message that says what to install, not with a resolution error deep inside the package.
 *
 * The part of its API the broker uses, typed here so the package ships no dependency on its
 * type definitions.
 */

export interface RunResult {
  changes: number;
  lastInsertRowid: number | bigint;
}

export interface Statement<Row = unknown> {
  run(...params: unknown[]): RunResult;
  get(...params: unknown[]): Row | undefined;
  all(...params: unknown[]): Row[];
}

export interface Database {
  prepare<Row = unknown>(sql: string): Statement<Row>;
  exec(sql: string): this;
  pragma(source: string, options?: { simple?: boolean }): unknown;
  close(): this;
  readonly open: boolean;
  readonly inTransaction: boolean;
}

export type DatabaseConstructor = new (
  file: string,
  options?: { timeout?: number; fileMustExist?: boolean; readonly?: boolean },
) => Database;

/** An error better-sqlite3 raised for SQLite: `code` is the extended result code's name. */
export interface SqliteError extends Error {
  code: string;
}

export const NEEDS_DRIVER = 'switchboard/sqlite needs better-sqlite3: npm install better-sqlite3';

function load(): DatabaseConstructor {
  const require = createRequire(import.meta.url);
  try {
    return require('better-sqlite3') as DatabaseConstructor;
  } catch (error) {
    const { code, message } = error as { code?: string; message?: string };
    if (code === 'MODULE_NOT_FOUND' && message?.includes("'better-sqlite3'"))
      throw new Error(NEEDS_DRIVER, { cause: error });
    // Installed but unusable: most often a native build for another Node version.
    throw new Error(
      `switchboard/sqlite could not load better-sqlite3 (${message ?? String(error)}); ` +
        'reinstall it for this Node version: npm rebuild better-sqlite3',
      { cause: error },
    );
  }
}

export const Driver: DatabaseConstructor = load();
