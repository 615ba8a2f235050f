import { ProviderError } from "../../core/errors.ts";
import { DatabaseLocked } from "./busy-wait.ts";

/**
 * Maps a storage failure to the contract's error kinds (docs/provider-contract.md §9):
 * undecodable stored rows are Corrupt, bad input InvalidArgument, constraint violations Conflict,
 * a busy or locked database Unavailable (retryable), anything else Internal (retryable: the
 * runtime backs off rather than failing an instance over a failure it cannot classify).
 */
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
  const code = (err as { code?: unknown } | null)?.code;
  const message = err instanceof Error ? err.message : String(err);
  if (typeof code === "string" && code.startsWith("SQLITE_CONSTRAINT")) {
    const dup = code === "SQLITE_CONSTRAINT_PRIMARYKEY" || code === "SQLITE_CONSTRAINT_UNIQUE";
    return new ProviderError("Conflict", op, dup ? `duplicate key: ${message}` : message, { cause: err });
  }
  if (typeof code === "string" && (code.startsWith("SQLITE_BUSY") || code.startsWith("SQLITE_LOCKED"))) {
    return ProviderError.unavailable(op, message, err);
  }
  return ProviderError.from(op, err); // ProviderErrors as they are, DecodeError Corrupt, the rest Internal
}
