/** Syncing the WAL to disk off the event loop: what makes a committed group durable. */

import { closeSync, fdatasync, fsyncSync, openSync, statSync } from 'node:fs';
import { dirname } from 'node:path';

export class WalSync {
  private wal: { fd: number; ino: number } | undefined;
  private directorySynced = false;

  constructor(private readonly file: string) {}

  /**
   * fdatasync of the WAL on the thread pool (as SQLite syncs it: data and size, not times); the
   * first one also syncs the directory entry. The WAL keeps its inode while the broker has the
   * file open; it is checked anyway, and reopened if SQLite ever made a new one.
   */
  sync(done: (error: Error | null) => void): void {
    try {
      const walFile = `${this.file}-wal`;
      const { ino } = statSync(walFile);
      if (this.wal?.ino !== ino) {
        if (this.wal) closeSync(this.wal.fd);
        this.wal = { fd: openSync(walFile, 'r+'), ino };
        if (!this.directorySynced) {
          const dir = openSync(dirname(walFile), 'r');
          try {
            fsyncDirectory(dir);
          } finally {
            closeSync(dir);
          }
          this.directorySynced = true;
        }
      }
      fdatasync(this.wal.fd, done);
    } catch (error) {
      done(error instanceof Error ? error : new Error(String(error)));
    }
  }

  /** Lets go of the WAL's descriptor. */
  close(): void {
    if (this.wal) closeSync(this.wal.fd);
    this.wal = undefined;
  }
}

/** fsync of a directory, so a file created in it survives a crash. Not possible everywhere (Windows). */
function fsyncDirectory(fd: number): void {
  try {
    fsyncSync(fd);
  } catch {
    // Best effort: some platforms and file systems refuse to sync a directory.
  }
}
