/**
 * Retry policies for `ctx.scheduleActivityWithRetry` (docs/runtime-semantics.md §3.2): how many
 * attempts, how long to wait between them, and an optional per-attempt timeout. Plain data, so a
 * policy can be written as an object literal or built with the `RetryPolicy.*` helpers;
 * `resolveRetryPolicy` validates it.
 * The retry loop itself runs in orchestration code (every attempt and backoff timer is in history).
 */
import { describe } from "../core/describe.ts";
import { ValidationError } from "../core/errors.ts";

export type BackoffStrategy =
  /** Retry immediately. */
  | { type: "None" }
  /** The same delay after every failure. */
  | { type: "Fixed"; delayMs: number }
  /** `min(baseMs · n, maxMs)` after the n-th failure. */
  | { type: "Linear"; baseMs: number; maxMs: number }
  /** `min(baseMs · multiplier^(n−1), maxMs)` after the n-th failure. */
  | { type: "Exponential"; baseMs: number; multiplier: number; maxMs: number };

export interface RetryPolicy {
  /** Total attempts including the first, ≥ 1. */
  maxAttempts: number;
  backoff: BackoffStrategy;
  /** Per-attempt timeout. A timed-out attempt is not retried: the call fails with "timeout: activity timed out". */
  timeoutMs?: number;
}

/** What callers may pass: any omitted field takes its default. */
export interface RetryPolicyInput {
  maxAttempts?: number;
  backoff?: BackoffStrategy;
  timeoutMs?: number;
}

export const DEFAULT_MAX_ATTEMPTS = 3;
export const DEFAULT_BACKOFF: Readonly<BackoffStrategy> = Object.freeze({
  type: "Exponential",
  baseMs: 100,
  multiplier: 2,
  maxMs: 30_000,
});

/** Helpers that build policies; each returns plain data (spread to add `timeoutMs`, or use `withTimeout`). */
export const RetryPolicy = {
  /** 3 attempts, exponential backoff 100 ms × 2 capped at 30 s. */
  default(): RetryPolicy {
    return { maxAttempts: DEFAULT_MAX_ATTEMPTS, backoff: { ...DEFAULT_BACKOFF } };
  },
  /** Delays baseMs, baseMs·multiplier, baseMs·multiplier², ... capped at maxMs. */
  exponential(maxAttempts: number, baseMs = 100, multiplier = 2, maxMs = 30_000): RetryPolicy {
    return resolveRetryPolicy({ maxAttempts, backoff: { type: "Exponential", baseMs, multiplier, maxMs } });
  },
  /** Delays baseMs, 2·baseMs, 3·baseMs, ... capped at maxMs. */
  linear(maxAttempts: number, baseMs = 100, maxMs = 30_000): RetryPolicy {
    return resolveRetryPolicy({ maxAttempts, backoff: { type: "Linear", baseMs, maxMs } });
  },
  /** The same delay after every failure. */
  fixed(maxAttempts: number, delayMs: number): RetryPolicy {
    return resolveRetryPolicy({ maxAttempts, backoff: { type: "Fixed", delayMs } });
  },
  /** Retry immediately, no timer between attempts. */
  none(maxAttempts: number): RetryPolicy {
    return resolveRetryPolicy({ maxAttempts, backoff: { type: "None" } });
  },
  /** A copy of `policy` with a per-attempt timeout. */
  withTimeout(policy: RetryPolicyInput, timeoutMs: number): RetryPolicy {
    return resolveRetryPolicy({ ...policy, timeoutMs });
  },
} as const;

/** Validates a policy (throws `ValidationError` naming the bad field) and fills in defaults. */
export function resolveRetryPolicy(p?: RetryPolicyInput): RetryPolicy {
  if (p === undefined || p === null) return RetryPolicy.default();
  if (typeof p !== "object" || Array.isArray(p)) {
    throw new ValidationError(`retry policy must be an object { maxAttempts, backoff, timeoutMs? }, got ${describe(p)}`);
  }
  const raw = p as Record<string, unknown>;
  for (const key of Object.keys(raw)) {
    if (key !== "maxAttempts" && key !== "backoff" && key !== "timeoutMs") {
      throw new ValidationError(`unknown retry policy field "${key}" (expected maxAttempts, backoff, timeoutMs)`);
    }
  }
  let maxAttempts = DEFAULT_MAX_ATTEMPTS;
  if (raw.maxAttempts !== undefined) maxAttempts = int("maxAttempts", raw.maxAttempts, 1);
  const backoff = raw.backoff === undefined ? { ...DEFAULT_BACKOFF } : resolveBackoff(raw.backoff);
  const policy: RetryPolicy = { maxAttempts, backoff };
  if (raw.timeoutMs !== undefined) policy.timeoutMs = int("timeoutMs", raw.timeoutMs, 1);
  return policy;
}

/**
 * The delay before the next attempt after the `failedAttempt`-th failure (1-based), in whole ms:
 * None 0; Fixed delayMs; Linear min(baseMs·n, maxMs); Exponential min(baseMs·multiplier^(n−1), maxMs).
 */
export function backoffDelayMs(policy: RetryPolicy, failedAttempt: number): number {
  const n = Number.isFinite(failedAttempt) ? Math.max(Math.floor(failedAttempt), 1) : 1;
  const b = policy.backoff;
  switch (b.type) {
    case "None":
      return 0;
    case "Fixed":
      return b.delayMs;
    case "Linear":
      return Math.min(b.baseMs * n, b.maxMs);
    case "Exponential":
      return Math.floor(Math.min(b.baseMs * b.multiplier ** (n - 1), b.maxMs));
  }
}

function resolveBackoff(value: unknown): BackoffStrategy {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new ValidationError(`backoff must be an object with a type, got ${describe(value)}`);
  }
  const b = value as Record<string, unknown>;
  const onlyKeys = (...keys: string[]) => {
    for (const key of Object.keys(b)) {
      if (key !== "type" && !keys.includes(key)) {
        throw new ValidationError(
          `unknown field "backoff.${key}" for ${String(b.type)} backoff (expected ${keys.length ? keys.join(", ") : "no fields besides type"})`,
        );
      }
    }
  };
  switch (b.type) {
    case "None":
      onlyKeys();
      return { type: "None" };
    case "Fixed":
      onlyKeys("delayMs");
      return { type: "Fixed", delayMs: int("backoff.delayMs", b.delayMs, 0) };
    case "Linear": {
      onlyKeys("baseMs", "maxMs");
      const baseMs = int("backoff.baseMs", b.baseMs, 0);
      const maxMs = int("backoff.maxMs", b.maxMs, 0);
      checkCap(baseMs, maxMs);
      return { type: "Linear", baseMs, maxMs };
    }
    case "Exponential": {
      onlyKeys("baseMs", "multiplier", "maxMs");
      const baseMs = int("backoff.baseMs", b.baseMs, 0);
      const maxMs = int("backoff.maxMs", b.maxMs, 0);
      const multiplier = b.multiplier;
      if (typeof multiplier !== "number" || !Number.isFinite(multiplier) || multiplier < 1) {
        throw new ValidationError(`backoff.multiplier must be a finite number ≥ 1, got ${describe(multiplier)}`);
      }
      checkCap(baseMs, maxMs);
      return { type: "Exponential", baseMs, multiplier, maxMs };
    }
    default:
      throw new ValidationError(
        `backoff.type must be "None", "Fixed", "Linear" or "Exponential", got ${describe(b.type)}`,
      );
  }
}

function checkCap(baseMs: number, maxMs: number): void {
  if (maxMs < baseMs) {
    throw new ValidationError(`backoff.maxMs (${maxMs}) must be ≥ backoff.baseMs (${baseMs})`);
  }
}

function int(field: string, value: unknown, min: 0 | 1): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min) {
    const want = min === 0 ? "a non-negative integer" : "a positive integer";
    throw new ValidationError(`${field} must be ${want}, got ${describe(value)}`);
  }
  return value;
}
