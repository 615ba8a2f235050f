/**
 * The shared skeleton of both dispatchers: N independent loops that fetch, process, and on an
 * empty fetch or an error wait before fetching again. Providers that long-poll are woken by their
 * own enqueues, so the idle wait here only matters for short-poll providers and other processes.
 */
import { ProviderError } from "../core/errors.ts";
import { FetchFailureLog } from "./fetch-failure-log.ts";
import type { Logger } from "./options.ts";

/** Longest a busy loop runs without letting timers and I/O in. */
const YIELD_EVERY_MS = 5;

/**
 * Pause after the n-th consecutive failed fetch of one slot (docs/runtime-semantics.md §1.4 step 2,
 * §1.10). A retryable failure is usually a blip (one busy moment, one dropped connection): the
 * next try comes at once (after a turn of the event loop), and only a failure that persists backs
 * off, from 10 ms doubling to 3 s. A
 * permanent one (a closed provider) will not heal by itself: 250 ms doubling to 5 s, so a dead
 * provider costs a fetch per slot every few seconds, not a busy loop.
 */
export function fetchRetryDelayMs(consecutiveFailures: number, permanent: boolean): number {
  const n = Math.max(1, consecutiveFailures);
  if (permanent) return Math.min(250 * 2 ** Math.min(n - 1, 10), 5_000);
  return n === 1 ? 0 : Math.min(10 * 2 ** Math.min(n - 2, 10), 3_000);
}

export interface LoopConfig<T> {
  /** Loop name prefix, e.g. "orch" or "work". */
  name: string;
  /** Loops to run; 0 runs none (a worker-only or orchestration-only runtime, docs/runtime-semantics.md §1.11). */
  concurrency: number;
  /** Minimum time between two empty fetches of one loop. */
  pollIntervalMs: number;
  logger: Logger;
  /**
   * Fetches the slot's next item. `signal` aborts at shutdown: a provider that honours it ends an
   * idle long poll at once instead of after dispatcherLongPollTimeoutMs (docs/provider-contract.md §3.2).
   */
  fetch(slot: number, signal: AbortSignal): T | null | Promise<T | null>;
  /**
   * Processes one item. It may hand back its final write still in flight (`committing`): the loop
   * then fetches its next item at once, so that fetch and this commit share one group commit.
   */
  process(work: T, slot: number): Promise<Processed>;
  /** Work fetched after shutdown began: hand it back at once. */
  release(work: T, slot: number): Promise<void>;
  /** Period of the "fetches still failing" summary lines (default 30 s; tests shorten it). */
  failureSummaryMs?: number;
}

export type Processed = void | { committing: Promise<void> };

/** Sleeps `ms` or until `signal` aborts, whichever is first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted || ms <= 0) return resolve();
    const done = () => {
      clearTimeout(t);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}

/** Waits for `p`, but at most `ms`; the timer is cleared either way (it must not hold the process). */
export async function waitAtMost(p: Promise<unknown>, ms: number): Promise<void> {
  const stop = new AbortController();
  try {
    await Promise.race([p, sleep(ms, stop.signal)]);
  } finally {
    stop.abort();
  }
}

export class DispatchLoops<T> {
  private readonly stop = new AbortController();
  private readonly busy = new Set<Promise<void>>();
  private loops: Promise<void>[] = [];
  private readonly failures: FetchFailureLog;

  constructor(private readonly cfg: LoopConfig<T>) {
    this.failures = new FetchFailureLog(cfg.name, cfg.logger, cfg.failureSummaryMs);
  }

  start(): void {
    for (let i = 0; i < this.cfg.concurrency; i++) this.loops.push(this.loop(i));
  }

  /** Work currently being processed (not idle fetches). */
  inFlight(): Promise<void>[] {
    return [...this.busy];
  }

  /** Stops fetching: idle waits end now (their fetch's signal aborts), no new fetch starts. */
  stopFetching(): void {
    this.stop.abort();
  }

  /** Stops fetching; resolves when in-flight work finished (idle fetches may still be returning). */
  async shutdown(): Promise<void> {
    this.stop.abort();
    await Promise.allSettled(this.inFlight());
  }

  /**
   * Resolves when every loop has ended (its last fetch returned, and anything it fetched late was
   * released) and every commit it handed off settled: from then on the loops make no provider call.
   */
  async finished(): Promise<void> {
    await Promise.allSettled(this.loops);
    while (this.busy.size > 0) await Promise.allSettled(this.inFlight());
  }

  private async loop(slot: number): Promise<void> {
    let errors = 0;
    let idle = 0;
    let lastYield = performance.now();
    const signal = this.stop.signal;
    while (!signal.aborted) {
      const started = Date.now();
      let work: T | null;
      try {
        work = await this.cfg.fetch(slot, signal);
        errors = 0;
        this.failures.succeeded();
      } catch (err) {
        errors++;
        // Back off either way (a permanent failure would otherwise make this a busy loop), but
        // briefly at first: a transient failure usually clears on the next try, and every slot
        // that waits here is throughput lost (docs/runtime-semantics.md §1.10).
        const delay = fetchRetryDelayMs(errors, err instanceof ProviderError && !err.retryable);
        this.failures.failed(slot, err, delay);
        // Even an immediate retry lets timers and I/O run first (a failing fetch may fail synchronously).
        if (delay === 0) await new Promise((r) => setImmediate(r));
        else await sleep(delay, signal);
        continue;
      }
      if (work === null) {
        // Short-poll providers return at once: wait out the poll interval, backing off to 4x when idle.
        idle = Math.min(idle + 1, 3);
        const wait = this.cfg.pollIntervalMs * 2 ** (idle - 1) - (Date.now() - started);
        if (wait > 0) await sleep(wait, signal);
        continue;
      }
      idle = 0;
      if (signal.aborted) {
        await this.cfg.release(work, slot).catch(() => {});
        return;
      }
      const logError = (err: unknown) => {
        this.cfg.logger.log("error", `${this.cfg.name}-${slot}: ${(err as Error).stack ?? String(err)}`, {});
      };
      const processStart = performance.now();
      const p = this.cfg.process(work, slot).catch((err): Processed => logError(err));
      this.busy.add(p as Promise<unknown> as Promise<void>);
      const processed = await p;
      this.busy.delete(p as Promise<unknown> as Promise<void>);
      // An item that took a while (an activity awaiting timers or I/O) already let the event loop run.
      if (performance.now() - processStart > 1) lastYield = performance.now();
      if (processed) {
        const c = processed.committing.catch(logError);
        this.busy.add(c);
        void c.finally(() => this.busy.delete(c));
      }
      // While work keeps coming, everything can resolve on microtasks and starve timers (lock
      // renewals, client timeouts, activities' own timers): give the event loop a turn now and then.
      if (performance.now() - lastYield > YIELD_EVERY_MS) {
        await new Promise((r) => setImmediate(r));
        lastYield = performance.now();
      }
    }
  }
}
