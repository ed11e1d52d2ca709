/** The errors the SQLite broker raises, in words an operator can act on. */

import { ErrorCode, SwitchboardError } from '../protocol/errors.js';
import type { SqliteError } from './driver.js';

export function sqliteCode(error: unknown): string {
  const code = (error as Partial<SqliteError> | undefined)?.code;
  return typeof code === 'string' ? code : '';
}

export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Why a file cannot be used, naming it, in words an operator can act on. */
export function openError(file: string, error: unknown): Error {
  const message = messageOf(error);
  if (message.startsWith('sqliteBroker:')) return error as Error;
  const code = sqliteCode(error);
  let text: string;
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED'))
    text = `${file} is in use by another process (${message}); one process at a time may use the file`;
  else if (code.startsWith('SQLITE_NOTADB') || code.startsWith('SQLITE_CORRUPT'))
    text =
      `${file} is corrupt or not an SQLite database (${message}). It was left as it is: ` +
      'restore it from a backup, or move it away to start with empty history';
  else if (code.startsWith('SQLITE_CANTOPEN'))
    text = `cannot open ${file} (${message}): does its directory exist, and may this process write there?`;
  else if (code.startsWith('SQLITE_READONLY') || code.startsWith('SQLITE_PERM'))
    text = `cannot write ${file} (${message}): the broker needs to write the file and its directory`;
  else text = `cannot use ${file}: ${message}`;
  return new Error(`sqliteBroker: ${text}`, { cause: error });
}

export function unavailable(message: string): SwitchboardError {
  return new SwitchboardError(ErrorCode.UNAVAILABLE, `Broker unavailable: ${message}`);
}
