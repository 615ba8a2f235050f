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
 * Orchestration code no longer fits a recorded history (docs/runtime-semantics.md §2.8), as
 * `replayHistory` from duroxide/testing reports it: the first event where they part, what history
 * has there and what the code did instead. The runtime itself never throws this: it fails the
 * execution with `Configuration { kind: "Nondeterminism" }` details.
 */
export class NondeterminismError extends DuroxideError {
  override name = "NondeterminismError";
  readonly instanceId: string;
  readonly executionId: number;
  readonly orchestrationName: string;
  readonly orchestrationVersion: string;
  /** The history event where code and history part; null when no single event is to blame. */
  readonly eventId: number | null;
  /** What history records at that point, e.g. `activity "Reserve" with input "book"`. */
  readonly historyHas: string;
  /** What the code did instead, e.g. `scheduled a timer`. */
  readonly codeDid: string;

  constructor(fields: {
    instanceId: string;
    executionId: number;
    orchestrationName: string;
    orchestrationVersion: string;
    eventId: number | null;
    historyHas: string;
    codeDid: string;
  }) {
    const where = fields.eventId === null ? "" : ` at event ${fields.eventId}`;
    super(
      `nondeterminism in ${fields.orchestrationName} ${fields.orchestrationVersion} (instance ${JSON.stringify(fields.instanceId)}, execution ${fields.executionId})${where}: ` +
        `history has ${fields.historyHas}, but the code ${fields.codeDid}. ` +
        "Running instances of this history would fail on this code: keep the old code path (or register the change as a new version) until they finish",
    );
    this.instanceId = fields.instanceId;
    this.executionId = fields.executionId;
    this.orchestrationName = fields.orchestrationName;
    this.orchestrationVersion = fields.orchestrationVersion;
    this.eventId = fields.eventId;
    this.historyHas = fields.historyHas;
    this.codeDid = fields.codeDid;
  }
}

/**
 * What went wrong in a Provider call, as a closed set the runtime, the client and the suite decide
 * by (never by message text, so a provider words its messages freely). docs/provider-contract.md
 * §9 says which method raises which kind.
 */
export type ProviderErrorKind =
  /** The named instance or execution does not exist (management reads, getParentId, deletes). */
  | "NotFound"
  /** The lock token is unknown, expired, released, or its row or instance was deleted. */
  | "LockLost"
  /** A delete without `force` named an instance whose current execution is still running. */
  | "InstanceRunning"
  /** A delete named a sub-orchestration: only a root and its whole tree can be deleted. */
  | "NotRoot"
  /** An atomic delete would leave a child whose parent it deletes (or vice versa) behind. */
  | "WouldOrphan"
  /** The write collides with what is stored (a duplicate event id, say). */
  | "Conflict"
  /** The caller passed something that can never be valid: a bad id, a malformed event, a negative duration. */
  | "InvalidArgument"
  /** The provider was closed; open a new one. */
  | "Closed"
  /** Transient trouble (busy database, lost connection): the same call may succeed later. */
  | "Unavailable"
  /** Stored data cannot be decoded (a corrupted history row, say). */
  | "Corrupt"
  /** Anything else: a bug in the provider or the storage engine. */
  | "Internal";

/** Every kind, for validation and exhaustive tests. */
export const PROVIDER_ERROR_KINDS: readonly ProviderErrorKind[] = [
  "NotFound",
  "LockLost",
  "InstanceRunning",
  "NotRoot",
  "WouldOrphan",
  "Conflict",
  "InvalidArgument",
  "Closed",
  "Unavailable",
  "Corrupt",
  "Internal",
];

/**
 * The error every Provider method throws. `kind` says what failed; `retryable` tells the runtime
 * whether backing off and trying again can succeed (by default only for "Unavailable"; a provider
 * may mark an "Internal" failure retryable when it cannot tell).
 */
export class ProviderError extends DuroxideError {
  override name = "ProviderError";
  readonly retryable: boolean;
  /**
   * Only with "LockLost": the lock did not lapse; the provider sent the batch back to the queue
   * itself (a start committed with its first turn that had to go through the queue, docs/provider-
   * contract.md §16.4), and it is delivered again. The runtime then runs the turn again however
   * long it took, instead of taking it for a turn that outran its lock.
   */
  readonly superseded: boolean;

  constructor(
    readonly kind: ProviderErrorKind,
    readonly operation: string,
    message: string,
    options: { retryable?: boolean; cause?: unknown; superseded?: boolean } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    if (!PROVIDER_ERROR_KINDS.includes(kind)) throw new TypeError(`unknown ProviderErrorKind ${JSON.stringify(kind)}`);
    if (options.superseded === true && kind !== "LockLost") throw new TypeError(`superseded applies to LockLost only, not ${kind}`);
    this.retryable = options.retryable ?? kind === "Unavailable";
    this.superseded = options.superseded === true;
  }

  static notFound(operation: string, message: string): ProviderError {
    return new ProviderError("NotFound", operation, message);
  }

  static lockLost(operation: string, message: string): ProviderError {
    return new ProviderError("LockLost", operation, message);
  }

  static invalidArgument(operation: string, message: string, cause?: unknown): ProviderError {
    return new ProviderError("InvalidArgument", operation, message, { cause });
  }

  static unavailable(operation: string, message: string, cause?: unknown): ProviderError {
    return new ProviderError("Unavailable", operation, message, { cause });
  }

  static corrupt(operation: string, message: string, cause?: unknown): ProviderError {
    return new ProviderError("Corrupt", operation, message, { cause });
  }

  static closed(operation: string): ProviderError {
    return new ProviderError("Closed", operation, "the provider is closed");
  }

  /**
   * Wraps anything thrown by storage code: ProviderErrors pass through, a DecodeError (stored data
   * that does not decode; input is checked before storage code runs) becomes Corrupt, a
   * ValidationError InvalidArgument, anything unknown Internal and retryable (the runtime backs
   * off rather than failing an instance over a failure it cannot classify).
   */
  static from(operation: string, err: unknown): ProviderError {
    if (err instanceof ProviderError) return err;
    if (err instanceof DecodeError) return ProviderError.corrupt(operation, `stored data cannot be decoded: ${err.message}`, err);
    if (err instanceof ValidationError) return ProviderError.invalidArgument(operation, err.message, err);
    let message: string;
    try {
      message = err instanceof Error ? err.message : String(err);
    } catch {
      message = "a value that cannot be described (its toString throws)";
    }
    return new ProviderError("Internal", operation, message, { retryable: true, cause: err });
  }

  /** True when `err` is a ProviderError of one of `kinds`. */
  static isKind(err: unknown, ...kinds: ProviderErrorKind[]): err is ProviderError {
    return err instanceof ProviderError && kinds.includes(err.kind);
  }

  isRetryable(): boolean {
    return this.retryable;
  }

  override toString(): string {
    return `${this.operation}: [${this.kind}] ${this.message}`;
  }
}
