/**
 * Opening the database file: the exclusive lock (across processes by SQLite, within this process
 * by device and inode), the startup check, the pragmas and the schema.
 */

import { statSync } from 'node:fs';
import { type Database, Driver } from './driver.js';
import { messageOf, openError, sqliteCode } from './errors.js';
import type { SqliteBrokerOptions } from './options.js';
import { prepareSchema } from './schema.js';

/** The WAL is truncated back to this after a checkpoint if a large transaction grew it. */
const WAL_SIZE_LIMIT = 16 * 1024 * 1024;

/** Files open in this process, by device and inode: a second broker on one gets a clear refusal. */
const openFiles = new Set<string>();

/** Marks the file (by the id `openDatabase` returned) as in use by a broker of this process. */
export function claimFile(id: string): void {
  openFiles.add(id);
}

/** Lets another broker of this process open the file. */
export function releaseFile(id: string): void {
  openFiles.delete(id);
}

/** Opens, locks, checks and (if need be) migrates the file. */
export function openDatabase(
  file: string,
  options: SqliteBrokerOptions,
): { db: Database; id: string } {
  let db: Database;
  try {
    db = new Driver(file, { timeout: options.lockTimeoutMs ?? 0 });
  } catch (error) {
    const code = sqliteCode(error);
    if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_NOTADB'))
      throw openError(file, error);
    throw new Error(`sqliteBroker: cannot open ${file} (${messageOf(error)})`, { cause: error });
  }
  try {
    const { dev, ino } = statSync(file);
    const id = `${dev}:${ino}`;
    if (openFiles.has(id))
      throw new Error(
        `sqliteBroker: ${file} is already open in this process; one broker per file (share that broker)`,
      );
    // Exclusive before WAL: the lock is taken on the first access and held until close, and the
    // WAL index lives in this process's memory, not a shared file. Nobody else reads or writes.
    db.pragma('locking_mode = EXCLUSIVE');
    const mode = db.pragma('journal_mode = WAL', { simple: true });
    if (mode !== 'wal') throw new Error(`sqliteBroker: ${file} could not be put in WAL mode`);
    if (options.integrityCheck !== false) {
      const problems = (db.pragma('quick_check') as { quick_check: string }[]).map(
        (row) => row.quick_check,
      );
      if (problems[0] !== 'ok')
        throw new Error(
          `sqliteBroker: ${file} is corrupt (quick_check: ${problems.slice(0, 3).join('; ')}). ` +
            'It was left as it is: restore it from a backup, or move it away to start with empty history',
        );
    }
    // Commits write the WAL without waiting for the disk; the broker fsyncs the WAL itself, off
    // the event loop, before it acknowledges them ('full'). Checkpoints still sync both files.
    db.pragma('synchronous = NORMAL');
    db.pragma(`journal_size_limit = ${WAL_SIZE_LIMIT}`);
    if (options.maxBytes !== undefined) {
      const pageSize = Number(db.pragma('page_size', { simple: true }));
      db.pragma(`max_page_count = ${Math.max(1, Math.floor(options.maxBytes / pageSize))}`);
    }
    prepareSchema(db, file, Date.now());
    return { db, id };
  } catch (error) {
    db.close();
    throw openError(file, error);
  }
}
