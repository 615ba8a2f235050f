/**
 * The provider's one connection and the three ways work runs on it, each mapping failures to
 * ProviderError and refusing once the provider is closed: a write in the next group commit (every
 * write of the Provider interface), a BEGIN IMMEDIATE transaction now (the admin capability's
 * deletes and prunes), and a plain read.
 */
import type { Database } from "bun:sqlite";
import { ProviderError } from "../../core/errors.ts";
import { GroupCommit } from "../group-commit.ts";
import { sqliteError } from "./errors.ts";

export class Connection {
  private isClosed = false;
  /** BEGIN IMMEDIATE runner for synchronous transactions. */
  private readonly immediate: <T>(fn: () => T) => T;
  /** Null without group commit: every write is then its own immediate transaction. */
  private readonly writes: GroupCommit | null;

  constructor(
    readonly db: Database,
    groupCommit: boolean,
  ) {
    this.immediate = db.transaction(<T>(fn: () => T): T => fn()).immediate as <T>(fn: () => T) => T;
    this.writes = groupCommit ? new GroupCommit(db) : null;
  }

  get closed(): boolean {
    return this.isClosed;
  }

  /**
   * Commits the writes already accepted, then closes the database for real (its prepared
   * statements finalized, so the file is released at once); false when it was closed already.
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
    if (this.isClosed) throw ProviderError.closed(op);
    try {
      return this.writes === null ? this.immediate(fn) : await this.writes.run(fn);
    } catch (err) {
      throw sqliteError(op, err);
    }
  }

  /** Runs `fn` in one BEGIN IMMEDIATE transaction now. */
  tx<T>(op: string, fn: () => T): T {
    return this.read(op, () => this.immediate(fn));
  }

  /** Runs `fn` (reads) now, outside any explicit transaction. */
  read<T>(op: string, fn: () => T): T {
    if (this.isClosed) throw ProviderError.closed(op);
    try {
      return fn();
    } catch (err) {
      throw sqliteError(op, err);
    }
  }
}
