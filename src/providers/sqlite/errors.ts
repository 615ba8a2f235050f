/**
 * Maps a SQLite failure to the contract's error kinds, by SQLite's result code, never by message
 * text: the table of docs/provider-contract.md §14.5. In short:
 * - another connection's lock (SQLITE_BUSY, after waiting busyTimeoutMs: DatabaseLocked),
 *   SQLITE_LOCKED, and conditions that clear without changing the call (a full disk, I/O errors,
 *   out of memory, a lock-protocol race, a schema change by another connection): Unavailable,
 *   retryable, so the runtime backs off instead of failing instances over the machine's trouble;
 * - a database this process cannot open or write (read-only, permissions, no such directory):
 *   Internal, not retryable: it needs an operator;
 * - a corrupt file or not a database at all: Corrupt, not retryable;
 * - constraint violations Conflict, a value over SQLite's limits InvalidArgument;
 * - any other SQLite code is a bug (bad SQL, misuse): Internal, not retryable;
 * - what is not a SQLite error goes through ProviderError.from: ProviderErrors as they are, an
 *   undecodable stored row Corrupt, the rest Internal and retryable.
 * Every message names the file and says what to do.
 */
import { ProviderError } from "../../core/errors.ts";
import { DatabaseLocked } from "./busy-wait.ts";

/** SQLite's (extended) result code of a bun:sqlite error, e.g. "SQLITE_IOERR_WRITE"; null for anything else. */
export function sqliteResultCode(err: unknown): string | null {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" && code.startsWith("SQLITE_") ? code : null;
}

export function sqliteError(op: string, err: unknown, path: string): ProviderError {
  if (err instanceof ProviderError) return err;
  const db = path === ":memory:" ? "the in-memory database" : `database ${path}`;
  if (err instanceof DatabaseLocked && err.closing) {
    return ProviderError.unavailable(
      op,
      `${db} was locked by another connection (${err.code}) and the provider was closed after waiting ${Math.round(err.waitedMs)} ms: ` +
        `nothing was written; retry the call on a provider that is open`,
      err,
    );
  }
  if (err instanceof DatabaseLocked) {
    return ProviderError.unavailable(
      op,
      `${db} is locked by another connection: waited ${Math.round(err.waitedMs)} ms (the busyTimeoutMs bound, ${err.boundMs} ms) ` +
        `for its lock (${err.code}). Try again later; if it persists, look for a process holding a long transaction ` +
        `on the file or one that opened it with exclusive: true, or raise busyTimeoutMs`,
      err,
    );
  }
  const code = sqliteResultCode(err);
  if (code === null) return ProviderError.from(op, err);
  const message = err instanceof Error ? err.message : String(err);
  const primary = /^SQLITE_[A-Z]+/.exec(code)![0];
  const unavailable = (text: string) => ProviderError.unavailable(op, text, err);
  const permanent = (text: string) => new ProviderError("Internal", op, text, { retryable: false, cause: err });
  const corrupt = (text: string) => ProviderError.corrupt(op, text, err);

  switch (primary) {
    case "SQLITE_BUSY":
      return unavailable(
        `${db} is locked by another connection (${code}). Try again later; if it persists, look for a process ` +
          `holding a long transaction on the file or one that opened it with exclusive: true`,
      );
    case "SQLITE_LOCKED":
      return unavailable(`${db} is locked (${code}: ${message}): a table this call needs is in use by another statement; try again`);
    case "SQLITE_PROTOCOL":
    case "SQLITE_SCHEMA":
    case "SQLITE_ABORT":
    case "SQLITE_INTERRUPT":
      return unavailable(`SQLite gave up on ${db} because of a concurrent change (${code}: ${message}); nothing was written and the call can be retried`);
    case "SQLITE_NOMEM":
      return unavailable(`SQLite ran out of memory working on ${db} (${code}); nothing was written and the call can be retried`);
    case "SQLITE_FULL":
      // Retryable, like PostgreSQL's "insufficient resources" (§16.5): the call is not at fault and
      // succeeds unchanged once there is room; failing it for good would fail instances (§9).
      return unavailable(
        `${db} is full: the disk (or SQLite's page limit) has no room (${code}: ${message}). Free space on the volume ` +
          `holding the file and its -wal file; nothing was written, and writes succeed again once there is room`,
      );
    case "SQLITE_IOERR":
      if (code === "SQLITE_IOERR_CORRUPTFS") break; // the filesystem reports corruption: below
      if (code === "SQLITE_IOERR_NOMEM") return unavailable(`SQLite ran out of memory working on ${db} (${code}); nothing was written and the call can be retried`);
      return unavailable(
        `I/O error on ${db} (${code}: ${message}): check the disk and the filesystem holding it (the kernel log says ` +
          `more); nothing was written and the call can be retried`,
      );
    case "SQLITE_CONSTRAINT": {
      const dup = code === "SQLITE_CONSTRAINT_PRIMARYKEY" || code === "SQLITE_CONSTRAINT_UNIQUE";
      return new ProviderError("Conflict", op, dup ? `duplicate key: ${message}` : message, { cause: err });
    }
    case "SQLITE_TOOBIG":
      return ProviderError.invalidArgument(op, `a value is too big for SQLite in ${db} (${code}: ${message}); store less data per event or work item`, err);
    case "SQLITE_READONLY":
      return permanent(
        `cannot write ${db}: it is read-only to this process (${code}: ${message}). Check the permissions of the file, ` +
          `its -wal and -shm files and its directory, that its filesystem is not mounted read-only, and that the file ` +
          `was not moved or deleted while open; then restart the process`,
      );
    case "SQLITE_CANTOPEN":
      return permanent(
        `cannot open ${db} (${code}: ${message}): check that its directory exists and this process may create files ` +
          `in it (SQLite adds -wal and -shm files next to it), and that the path names a file, not a directory`,
      );
    case "SQLITE_PERM":
    case "SQLITE_AUTH":
      return permanent(`permission denied on ${db} (${code}: ${message}): grant this process read and write access to the file and its directory`);
    case "SQLITE_NOTADB":
      return corrupt(
        `${db} is not a SQLite database (${code}: ${message}): point the provider at a duroxide database file, or at a ` +
          `path that does not exist yet to create one`,
      );
    case "SQLITE_CORRUPT":
    case "SQLITE_FORMAT":
      break;
    default:
      return permanent(
        `SQLite failed on ${db} (${code}: ${message}): a bug in duroxide or a schema changed by hand, not a passing ` +
          `condition; please report it with this message`,
      );
  }
  return corrupt(
    `${db} is corrupt (${code}: ${message}): restore it from a backup (or salvage what is left with the sqlite3 ` +
      `shell's .recover); this provider cannot use it as it is`,
  );
}
