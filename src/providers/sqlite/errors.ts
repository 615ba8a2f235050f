import { ProviderError } from "../../core/errors.ts";

/**
 * Maps a storage failure to the contract's error kinds (docs/provider-contract.md §9):
 * undecodable stored rows are Corrupt, bad input InvalidArgument, constraint violations Conflict,
 * a busy or locked database Unavailable (retryable), anything else Internal (retryable: the
 * runtime backs off rather than failing an instance over a failure it cannot classify).
 */
export function sqliteError(op: string, err: unknown): ProviderError {
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
