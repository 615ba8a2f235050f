/**
 * Tells other processes about work this one committed (docs/provider-contract.md §16.4): NOTIFY
 * on the schema's channel, sent after the commit rather than inside it, because a notifying
 * transaction holds PostgreSQL's global notify lock through its WAL flush and so serialises all
 * notifying commits on the server. Announcements made while one is in flight are batched into the
 * next (one statement, duplicates dropped), so under load this costs about one round trip at a
 * time, off every caller's path.
 *
 * Payloads: `<sender>:<what>`, where the sender is the announcing provider's id (its own listener
 * skips its own announcements: it woke its fetches directly already) and what is 'o' orchestrator
 * work visible now, 'o<ms>' visible in ms; 'w', 'w<ms>' the same for the worker queue;
 * 't<instance>' the instance's execution reached a terminal status; 'h' a provider started
 * listening, 'a<sender>' the provider `<sender>` (everyone when empty) should look again at
 * everything (the answer to 'h'); 'p' a listener's ping to itself (see presence.ts, listener.ts).
 *
 * Nothing is sent while no other provider listens on the channel (presence.ts).
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
  /** Announcements sent, and those not sent because no other provider listened (diagnostics, tests). */
  sent = 0;
  skipped = 0;

  constructor(
    private readonly sql: SQL,
    private readonly channel: string,
    private readonly sender: string,
    /** Whether any other provider listens (see presence.ts): announcements are for them only. */
    private readonly heard: () => boolean,
  ) {}

  /** Announces `what`, unless nobody else listens; `always` sends it regardless (an answer to a hello). */
  announce(what: string, always = false): void {
    if (this.closed) return;
    if (!always && !this.heard()) {
      this.skipped++;
      return;
    }
    this.pending.add(`${this.sender}:${what}`);
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
        this.sent += batch.length;
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
