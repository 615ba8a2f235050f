/**
 * Waiting for another connection's lock without freezing the process (docs/provider-contract.md
 * §14.4). bun:sqlite is synchronous: SQLite's own busy handler sleeps inside the call, so a long
 * `busy_timeout` stops every timer of the process (lease renewals included) for as long as another
 * process holds the lock. Instead, SQLite's handler waits only BUSY_SLICE_MS; a call that still
 * finds the database locked is tried again after a back-off on the event loop (setTimeout), until
 * the provider's `busyTimeoutMs` has passed in all, then fails with DatabaseLocked.
 */

/** The longest SQLite's busy handler may block the event loop for one attempt. */
export const BUSY_SLICE_MS = 10;

/** The `PRAGMA busy_timeout` a connection gets for a total bound of `totalMs`. */
export function busySliceMs(totalMs: number): number {
  return Math.min(totalMs, BUSY_SLICE_MS);
}

/**
 * Another connection holds a lock this one needs (SQLITE_BUSY and its extended codes). Waiting
 * can help. SQLITE_LOCKED is not included: it is a conflict inside this connection (or its shared
 * cache), which this synchronous code cannot resolve by waiting.
 */
export function isBusy(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" && code.startsWith("SQLITE_BUSY");
}

/** Pause before retry number `attempt` (0-based): 2, 4, 8, 16, 32, then 50 ms, each ±25 % so that waiting processes do not retry in step. */
export function backoffMs(attempt: number): number {
  const base = Math.min(2 * 2 ** Math.min(attempt, 5), 50);
  return Math.max(1, Math.round(base * (0.75 + Math.random() * 0.5)));
}

/** The wait for another connection's lock reached the busyTimeoutMs bound. */
export class DatabaseLocked extends Error {
  override name = "DatabaseLocked";
  /** SQLite's code for the last attempt (SQLITE_BUSY or an extended one). */
  readonly code: string;

  constructor(
    /** How long the call waited in all, ms. */
    readonly waitedMs: number,
    /** The provider's busyTimeoutMs. */
    readonly boundMs: number,
    cause: unknown,
    /** The wait was cut short because the connection was closing. */
    readonly closing = false,
  ) {
    super(`database is locked: waited ${Math.round(waitedMs)} ms (${closing ? "then closed" : `busyTimeoutMs ${boundMs}`})`, { cause });
    const code = (cause as { code?: unknown } | null)?.code;
    this.code = typeof code === "string" ? code : "SQLITE_BUSY";
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Runs `fn` (synchronous work on the connection: a read, or a whole transaction that rolls back
 * on failure, so running it again is safe); while it fails because the database is locked, runs
 * it again after a back-off, for at most `totalMs` in all, then throws DatabaseLocked. Any other
 * failure is thrown as it is. `beforeRetry` runs before each retry and may throw to stop waiting
 * (the provider was closed meanwhile).
 */
export async function whileBusy<T>(totalMs: number, fn: () => T, beforeRetry?: () => void): Promise<T> {
  const started = performance.now();
  for (let attempt = 0; ; attempt++) {
    try {
      return fn();
    } catch (err) {
      if (!isBusy(err)) throw err;
      const waited = performance.now() - started;
      if (waited >= totalMs) throw new DatabaseLocked(waited, totalMs, err);
      await sleep(Math.min(backoffMs(attempt), Math.ceil(totalMs - waited)));
      beforeRetry?.();
    }
  }
}
