/**
 * Tells other processes about work this one committed (docs/provider-contract.md §16.4): NOTIFY
 * on the schema's channel, sent after the commit rather than inside it, because a notifying
 * transaction holds PostgreSQL's global notify lock through its WAL flush and so serialises all
 * notifying commits on the server. Announcements made while one is in flight are batched into the
 * next (one statement, duplicates dropped), so under load this costs about one round trip at a
 * time, off every caller's path.
 *
 * Payloads: 'o' orchestrator work visible now, 'o<ms>' visible in ms; 'w', 'w<ms>' the same for
 * the worker queue; 't<instance>' the instance's execution reached a terminal status.
 *
 * An announcement lost to a crash between the commit and the NOTIFY, or to a dropped connection,
 * costs a listener at most its fallback poll interval.
 */
import type { SQL } from "bun";

export class Announcer {
  private pending = new Set<string>();
  private flushing: Promise<void> | null = null;
  private closed = false;
  /** Announcements that failed to send (the fallback poll covers them). */
  failures = 0;

  constructor(
    private readonly sql: SQL,
    private readonly channel: string,
  ) {}

  announce(payload: string): void {
    if (this.closed) return;
    this.pending.add(payload);
    this.flushing ??= this.flush();
  }

  private async flush(): Promise<void> {
    // Let the caller's other announcements of this tick join the batch.
    await Promise.resolve();
    while (this.pending.size > 0 && !this.closed) {
      const batch = [...this.pending];
      this.pending.clear();
      try {
        await this.sql.unsafe("SELECT pg_notify($1::text, p) FROM unnest($2::text[]) AS p", [this.channel, batch]);
      } catch {
        this.failures++;
      }
    }
    this.flushing = null;
  }

  /** Waits for announcements in flight (for close()). */
  async close(): Promise<void> {
    const inFlight = this.flushing;
    if (inFlight !== null) await inFlight;
    this.closed = true;
  }
}
