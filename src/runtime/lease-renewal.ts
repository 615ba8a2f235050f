/**
 * Keeping a lease alive while work runs (docs/runtime-semantics.md §6, "Renewal interval"): both
 * dispatchers renew their lock every renewal interval until the work ends. A retryable failure (a
 * connection blip, a busy database) does not end the renewals, and is retried soon rather than a
 * whole interval later: with the default intervals the next regular renewal comes after the lease
 * has already run out (5 s lock renewed every 3 s; 30 s activity lease every 25 s).
 *
 * The error policy (docs/provider-contract.md §9): anything thrown is classified as
 * ProviderError.from would; only LockLost or NotFound means the lease is gone (renewals end and
 * the work is told). Closed ends them quietly (the runtime is shutting down). Any other permanent
 * failure (a read-only or corrupt store) is reported and renewal goes on at its regular interval:
 * it says nothing about this lease, and the store may recover.
 */
import { ProviderError } from "../core/errors.ts";

export interface LeaseRenewalConfig {
  /** The provider's renew call for this lease. */
  renew(): Promise<void>;
  /** Time between regular renewals (`renewalIntervalMs`). */
  everyMs: number;
  /** Called for each failure that does not end the lease (retryable, or permanent but not about it); renewal goes on. */
  onRetryable(err: ProviderError, retryInMs: number): void;
  /** Called once when the lease is gone (LockLost, NotFound); renewal has stopped. */
  onLost(err: ProviderError): void;
  /** What the provider call is called, for wrapping non-ProviderError throws. */
  operation: string;
}

/** Starts renewing; `stop()` (idempotent) ends it. */
export function keepLeaseAlive(cfg: LeaseRenewalConfig): { stop(): void; everyMs: number } {
  // A quarter interval (at most 1 s): several tries fit in what is left of the lease.
  const retryMs = Math.max(Math.min(Math.floor(cfg.everyMs / 4), 1_000), 10);
  let stopped = false;
  let retry: ReturnType<typeof setTimeout> | null = null;
  const stop = () => {
    stopped = true;
    clearInterval(timer);
    if (retry !== null) clearTimeout(retry);
    retry = null;
  };
  const attempt = () => {
    cfg.renew().catch((err: unknown) => {
      if (stopped) return;
      const pe = ProviderError.from(cfg.operation, err);
      if (pe.kind === "LockLost" || pe.kind === "NotFound") {
        stop();
        cfg.onLost(pe);
        return;
      }
      if (pe.kind === "Closed") {
        stop();
        return;
      }
      if (!pe.retryable) {
        cfg.onRetryable(pe, cfg.everyMs); // reported; the regular interval tries again
        return;
      }
      cfg.onRetryable(pe, retryMs);
      retry ??= setTimeout(() => {
        retry = null;
        if (!stopped) attempt();
      }, retryMs);
    });
  };
  const timer = setInterval(attempt, cfg.everyMs);
  return { stop, everyMs: cfg.everyMs };
}
