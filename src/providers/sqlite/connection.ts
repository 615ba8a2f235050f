/**
 * The provider's one connection and the three ways work runs on it, each mapping failures to
 * ProviderError (src/providers/sqlite/errors.ts) and refusing once the provider is closed: a write
 * in the next group commit (every write of the Provider interface), a BEGIN IMMEDIATE transaction
 * (the admin capability's deletes and prunes), and a plain read.
 *
 * All three wait for another connection's lock on the event loop, up to `busyTimeoutMs` in all
 * (docs/provider-contract.md §14.4): SQLite's own busy handler only ever blocks for a short slice.
 */
import type { Database } from "bun:sqlite";
import { ProviderError } from "../../core/errors.ts";
import { GroupCommit } from "../group-commit.ts";
import { whileBusy } from "./busy-wait.ts";
import { sqliteError } from "./errors.ts";

export interface ConnectionOptions {
  /** Writes of one event-loop turn share one transaction; false commits each alone. */
  groupCommit: boolean;
  /** The longest a call waits, in all, for another connection's lock. */
  busyTimeoutMs: number;
  /** The database's path, for error messages (":memory:" for a private in-memory database). */
  path: string;
  /** Runs after a write or transaction was rolled back (caches of its writes must be dropped). */
  onRollback?: () => void;
}

export class Connection {
  private isClosed = false;
  /** BEGIN IMMEDIATE runner for synchronous transactions. */
  private readonly immediate: <T>(fn: () => T) => T;
  /** Null without group commit: every write is then its own immediate transaction. */
  private readonly writes: GroupCommit | null;
  private readonly busyTimeoutMs: number;
  readonly path: string;

  constructor(
    readonly db: Database,
    options: ConnectionOptions,
  ) {
    const immediate = db.transaction(<T>(fn: () => T): T => fn()).immediate as <T>(fn: () => T) => T;
    const onRollback = options.onRollback ?? (() => {});
    // db.transaction has rolled back when fn (or the COMMIT) throws; a BEGIN that found the
    // database locked ran nothing, so there is nothing to drop.
    this.immediate = <T>(fn: () => T): T => {
      let began = false;
      try {
        return immediate(() => {
          began = true;
          return fn();
        });
      } catch (err) {
        if (began) onRollback();
        throw err;
      }
    };
    this.busyTimeoutMs = options.busyTimeoutMs;
    this.path = options.path;
    this.writes = options.groupCommit ? new GroupCommit(db, { busyTimeoutMs: options.busyTimeoutMs, onRollback: options.onRollback }) : null;
  }

  get closed(): boolean {
    return this.isClosed;
  }

  /**
   * Commits the writes already accepted, then closes the database for real (its prepared
   * statements finalized, so the file is released at once); false when it was closed already.
   * Calls waiting for another connection's lock fail: writes with Unavailable, the rest Closed.
   */
  close(): boolean {
    if (this.isClosed) return false;
    this.writes?.flushNow();
    this.isClosed = true;
    this.db.close(true);
    return true;
  }

  /** Runs `fn` atomically in the next group commit (one transaction per event-loop turn). */
  async write<T>(op: string, fn: () => T): Promise<T> {
    if (this.writes === null) return this.tx(op, fn);
    if (this.isClosed) throw ProviderError.closed(op);
    try {
      return await this.writes.run(fn);
    } catch (err) {
      throw sqliteError(op, err, this.path);
    }
  }

  /** Runs `fn` in one BEGIN IMMEDIATE transaction of its own. */
  tx<T>(op: string, fn: () => T): Promise<T> {
    return this.read(op, () => this.immediate(fn));
  }

  /** Runs `fn` (reads) outside any explicit transaction, at once unless the database is locked. */
  async read<T>(op: string, fn: () => T): Promise<T> {
    if (this.isClosed) throw ProviderError.closed(op);
    try {
      return await whileBusy(this.busyTimeoutMs, fn, () => {
        if (this.isClosed) throw ProviderError.closed(op);
      });
    } catch (err) {
      throw sqliteError(op, err, this.path);
    }
  }
}
