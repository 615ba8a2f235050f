/**
 * Maps a PostgreSQL failure to the contract's error kinds (docs/provider-contract.md §16.5), by
 * SQLSTATE and by Bun.SQL's error code, never by message text:
 * - the provider's own SQLSTATEs (class DX, raised by its functions): DXL01 LockLost; DXS01 (a start
 *   that cannot be committed with its first turn) is handled inside the provider (fused-starts.ts);
 * - serialization failure, deadlock, lock not available, admin shutdown / crash, connection
 *   exceptions (class 08), insufficient resources (class 53, e.g. too many connections) and any
 *   failure without a SQLSTATE (socket closed, refused, pool timeout): Unavailable, retryable;
 * - unique / constraint violations (class 23): Conflict; bad data (class 22): InvalidArgument;
 * - undecodable stored rows: Corrupt; anything else Internal (retryable: the runtime backs off
 *   rather than failing an instance over a failure it cannot classify).
 */
import { ProviderError } from "../../core/errors.ts";

const RETRYABLE_SQLSTATES = new Set(["40001", "40P01", "55P03", "57P01", "57P02", "57P03", "57014"]);

/** Bun.SQL codes for failures of the client or the query itself (not of the connection). */
const CLIENT_BUGS = new Set([
  "ERR_POSTGRES_SYNTAX_ERROR",
  "ERR_POSTGRES_INVALID_QUERY_BINDING",
  "ERR_POSTGRES_UNSUPPORTED_BIND_TYPE",
  "ERR_POSTGRES_UNSUPPORTED_INTEGER_SIZE",
  "ERR_POSTGRES_UNSUPPORTED_ARRAY_FORMAT",
  "ERR_POSTGRES_UNSUPPORTED_NUMERIC_FORMAT",
  "ERR_POSTGRES_INVALID_BINARY_DATA",
  "ERR_POSTGRES_INVALID_BYTE_SEQUENCE",
  "ERR_POSTGRES_INVALID_BYTE_SEQUENCE_FOR_ENCODING",
  "ERR_POSTGRES_INVALID_CHARACTER",
  "ERR_POSTGRES_MULTIDIMENSIONAL_ARRAY_NOT_SUPPORTED_YET",
  "ERR_POSTGRES_NULLS_IN_ARRAY_NOT_SUPPORTED_YET",
  "ERR_POSTGRES_UNKNOWN_FORMAT_CODE",
]);

/** The SQLSTATE of a server error, or null for a connection / client failure. */
export function sqlState(err: unknown): string | null {
  const e = err as { errno?: unknown; code?: unknown } | null;
  if (e === null || typeof e !== "object") return null;
  if (typeof e.errno === "string" && /^[0-9A-Z]{5}$/.test(e.errno)) return e.errno;
  return null;
}

/** start_ack_orch refused: the instance is not new (see fused-starts.ts). */
export function isNotNewInstance(err: unknown): boolean {
  return sqlState(err) === "DXS01" || (err instanceof ProviderError && sqlState(err.cause) === "DXS01");
}

export function postgresError(op: string, err: unknown): ProviderError {
  if (err instanceof ProviderError) return err;
  const state = sqlState(err);
  const message = err instanceof Error ? err.message : String(err);
  if (state !== null) {
    if (state === "DXL01") return ProviderError.lockLost(op, message);
    if (RETRYABLE_SQLSTATES.has(state) || state.startsWith("08") || state.startsWith("53")) {
      return ProviderError.unavailable(op, `database unavailable (SQLSTATE ${state}): ${message}`, err);
    }
    if (state.startsWith("23")) return new ProviderError("Conflict", op, `${message} (SQLSTATE ${state})`, { cause: err });
    if (state.startsWith("22")) return ProviderError.invalidArgument(op, `${message} (SQLSTATE ${state})`, err);
    return new ProviderError("Internal", op, `${message} (SQLSTATE ${state})`, { retryable: false, cause: err });
  }
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === "string" && CLIENT_BUGS.has(code)) {
    return new ProviderError("Internal", op, `${message} (${code})`, { retryable: false, cause: err });
  }
  if (typeof code === "string" && (code.startsWith("ERR_POSTGRES_") || /^E[A-Z]+$/.test(code))) {
    // Connection closed, refused, reset, timed out, TLS, authentication in flight...: the server
    // or the network, not the request. The runtime backs off and tries again.
    return ProviderError.unavailable(op, `database connection failed (${code}): ${message}`, err);
  }
  return ProviderError.from(op, err);
}
