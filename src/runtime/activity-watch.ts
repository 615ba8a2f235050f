/**
 * The per-attempt watch over a running activity (docs/runtime-semantics.md §1.5 step 5): the
 * `activityTimeoutMs` limit, and the slow-activity warning that makes a hung activity visible
 * when no limit is set. A hung activity otherwise holds its worker slot forever, its lease kept
 * alive by renewal, with nothing in the logs.
 */

export interface ActivityWatchConfig {
  /** Attempt time limit; 0 = none. */
  timeoutMs: number;
  /** First warning after this long, then each time the running time doubles; 0 = never. */
  warnAfterMs: number;
  onTimeout(): void;
  onSlow(elapsedMs: number): void;
}

/** Starts the watch; `stop()` (idempotent) must be called when the attempt ends, however it ends. */
export function watchActivity(cfg: ActivityWatchConfig): { stop(): void } {
  let timeout: ReturnType<typeof setTimeout> | null = null;
  let warning: ReturnType<typeof setTimeout> | null = null;
  const stop = () => {
    if (timeout !== null) clearTimeout(timeout);
    if (warning !== null) clearTimeout(warning);
    timeout = warning = null;
  };
  if (cfg.timeoutMs > 0) {
    timeout = setTimeout(() => {
      stop();
      cfg.onTimeout();
    }, cfg.timeoutMs);
  }
  if (cfg.warnAfterMs > 0 && (cfg.timeoutMs === 0 || cfg.warnAfterMs < cfg.timeoutMs)) {
    const started = performance.now();
    // Warn at W, 2W, 4W, ...: a stuck activity stays visible without flooding the log.
    const warnAt = (atMs: number, delayMs: number) => {
      warning = setTimeout(() => {
        cfg.onSlow(Math.round(performance.now() - started));
        warnAt(atMs * 2, atMs);
      }, delayMs);
    };
    warnAt(cfg.warnAfterMs, cfg.warnAfterMs);
  }
  return { stop };
}

/** The abort reason an activity's signal carries when its attempt timed out (what `AbortSignal.timeout` uses). */
export function activityTimeoutReason(timeoutMs: number): DOMException {
  return new DOMException(`activity attempt timed out after ${timeoutMs} ms (activityTimeoutMs)`, "TimeoutError");
}
