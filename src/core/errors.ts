/**
 * Typed errors. Every error this package throws on purpose is a `DuroxideError`, so callers can
 * tell "the library refused this" from a bug with one `instanceof`.
 */

export class DuroxideError extends Error {
  override name = "DuroxideError";
}

/** Stored or supplied data does not have the shape the data model requires. */
export class DecodeError extends DuroxideError {
  override name = "DecodeError";
  constructor(
    /** What was being decoded, e.g. "Event" or "WorkItem". */
    readonly what: string,
    message: string,
  ) {
    super(`invalid ${what}: ${message}`);
  }
}

/** A caller passed an argument that can never be valid (bad id, negative duration, ...). */
export class ValidationError extends DuroxideError {
  override name = "ValidationError";
}

/** Invalid runtime or provider options. */
export class ConfigurationError extends DuroxideError {
  override name = "ConfigurationError";
}

/** Why a client call failed; `retryable` is true for Timeout and for retryable provider errors. */
export type ClientErrorCode =
  | "InvalidInput"
  | "Timeout"
  | "ManagementNotAvailable"
  | "InstanceNotFound"
  | "InstanceStillRunning"
  | "CannotDeleteSubOrchestration"
  | "Provider";

/** A client call was refused (bad arguments or a state the call cannot act on). */
export class ClientError extends DuroxideError {
  override name = "ClientError";
  readonly code: ClientErrorCode;
  /** True when the same call may succeed later (a wait that timed out, a busy database). */
  readonly retryable: boolean;

  constructor(message: string, code: ClientErrorCode = "InvalidInput", options: { retryable?: boolean; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.retryable = options.retryable ?? code === "Timeout";
  }

  isRetryable(): boolean {
    return this.retryable;
  }
}

/**
 * The error every Provider method throws. `retryable` tells the runtime whether backing off and
 * trying again can succeed (busy database, lost connection) or never will (unknown lock token,
 * duplicate event id, bad input).
 */
export class ProviderError extends DuroxideError {
  override name = "ProviderError";
  constructor(
    readonly operation: string,
    message: string,
    readonly retryable: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  static retryable(operation: string, message: string, cause?: unknown): ProviderError {
    return new ProviderError(operation, message, true, cause === undefined ? undefined : { cause });
  }

  static permanent(operation: string, message: string, cause?: unknown): ProviderError {
    return new ProviderError(operation, message, false, cause === undefined ? undefined : { cause });
  }

  /** Wraps anything thrown by storage code; strings and unknown errors count as retryable. */
  static from(operation: string, err: unknown): ProviderError {
    if (err instanceof ProviderError) return err;
    if (err instanceof DecodeError || err instanceof ValidationError) {
      return ProviderError.permanent(operation, err.message, err);
    }
    const message = err instanceof Error ? err.message : String(err);
    return ProviderError.retryable(operation, message, err);
  }

  isRetryable(): boolean {
    return this.retryable;
  }

  override toString(): string {
    return `${this.operation}: ${this.message}`;
  }
}
