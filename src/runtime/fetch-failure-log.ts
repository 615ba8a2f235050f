/**
 * What the dispatch loops say about failing fetches (docs/runtime-semantics.md §1.10): the first
 * failure of an outage once, then at most one summary line per `summaryEveryMs` while failures go
 * on, and one line when fetching works again. Shared by all slots of one dispatcher, so a closed
 * provider costs one line per dispatcher instead of one per slot per retry, and a provider that
 * fails now and then (a few percent of calls) costs about two lines per period.
 */
import { ProviderError } from "../core/errors.ts";
import type { Logger } from "./options.ts";

/** Default period of the summary lines. */
export const FETCH_FAILURE_SUMMARY_MS = 30_000;

export class FetchFailureLog {
  /** Whether the last fetch of any slot failed: an outage (or a blip) is in progress. */
  private failing = false;
  private since = 0;
  /** Failures of the current outage. */
  private count = 0;
  /** Whether the current outage has been reported (only then is its end reported). */
  private reported = false;
  /** When a failure line was last logged, per level: a permanent failure is not held back by a line about blips. */
  private readonly lastLineAt = { warn: -Infinity, error: -Infinity };
  /** Failures since the last line, across outages. */
  private unreported = 0;

  constructor(
    /** Dispatcher name, e.g. "orch-1a2b3c4d". */
    private readonly name: string,
    private readonly logger: Logger,
    private readonly summaryEveryMs = FETCH_FAILURE_SUMMARY_MS,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** A fetch of `slot` failed with `err`; the slot waits `delayMs` before fetching again. */
  failed(slot: number, err: unknown, delayMs: number): void {
    const t = this.now();
    if (!this.failing) {
      this.failing = true;
      this.since = t;
      this.count = 0;
      this.reported = false;
    }
    this.count++;
    const permanent = err instanceof ProviderError && !err.retryable;
    const what = err instanceof ProviderError ? `${err.kind}${err.retryable ? "" : ", not retryable"}: ${err.message}` : String((err as Error)?.message ?? err);
    const level = permanent ? "error" : "warn";
    if (t - this.lastLineAt[level] < this.summaryEveryMs) {
      this.unreported++;
      return;
    }
    const earlier = this.unreported > 0 ? `; ${this.unreported} more failed fetches since the last report` : "";
    const advice = permanent
      ? "the provider refuses every fetch (closed? corrupt store?): fix it or shut the runtime down"
      : "retrying with back-off";
    const text = !this.reported
      ? `${this.name}: fetch failed on slot ${slot} (${what}); ${advice}; next try in ${Math.round(delayMs)} ms${earlier}. Further failures are summarised every ${Math.round(this.summaryEveryMs / 1000)} s`
      : `${this.name}: fetches still failing: ${this.count} failures in ${Math.round((t - this.since) / 1000)} s (last: ${what}); ${advice}; next try in ${Math.round(delayMs)} ms`;
    this.logger.log(level, text, { dispatcher: this.name, failures: this.count });
    this.reported = true;
    this.lastLineAt[level] = t;
    this.unreported = 0;
  }

  /** A fetch succeeded (work or not): an outage in progress is over. */
  succeeded(): void {
    if (!this.failing) return;
    this.failing = false;
    if (!this.reported) return;
    const ms = Math.round(this.now() - this.since);
    this.logger.log("info", `${this.name}: fetches work again after ${this.count} failure${this.count === 1 ? "" : "s"} over ${ms} ms`, {
      dispatcher: this.name,
      failures: this.count,
    });
  }
}
