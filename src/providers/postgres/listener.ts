/**
 * The provider's one listening connection (docs/provider-contract.md §16.4). Every process's
 * enqueues NOTIFY the schema's channel in their own transaction (delivered at commit); this
 * connection hears them and wakes this process's waiting fetches, at once for work visible now
 * and by a timer for work that becomes visible later. Terminal statuses wake clients waiting on
 * the instance.
 *
 * When the connection drops (a server restart, a network cut), notifications sent meanwhile are
 * lost: the listener reconnects with back-off, resubscribes, and then wakes everything once, so
 * nothing waits for the fallback poll longer than the outage itself.
 */
import { SQL } from "bun";
import { quoted } from "./options.ts";
import { PRESENCE_RECHECK_MS, Presence } from "./presence.ts";

export interface ListenerHandlers {
  /** Orchestrator-queue work visible in `delayMs` (0: now). */
  orchestrator(delayMs: number): void;
  worker(delayMs: number): void;
  terminal(instance: string): void;
  /** After a reconnect, or asked by another provider: anything may have happened. */
  all(): void;
  /** Another provider started listening: tell it to look at everything (see presence.ts). */
  joined(): void;
}

export class Listener {
  private readonly sql: SQL;
  private closed = false;
  private reconnecting = false;
  private subscription: { unlisten(): Promise<void> } | null = null;
  /** Whether the connection is up (false while reconnecting). */
  connected = false;
  /** Times the connection was re-established after a loss (for tests and diagnostics). */
  reconnects = 0;
  /** Whether other providers listen on this channel (announcements are for them only). */
  readonly presence: Presence;
  private recheck: ReturnType<typeof setInterval> | null = null;

  constructor(
    url: string,
    private readonly channel: string,
    private readonly handlers: ListenerHandlers,
    connectTimeoutSeconds: number,
    /** This provider's sender id (see announcer.ts). */
    private readonly self: string,
    presenceKey: number,
  ) {
    this.presence = new Presence(presenceKey);
    this.sql = new SQL(url, {
      max: 1,
      idleTimeout: 0,
      connectionTimeout: connectTimeoutSeconds,
      onclose: () => this.lost(),
    });
  }

  async start(): Promise<void> {
    this.subscription = await this.sql.listen(this.channel, (payload) => this.dispatch(payload));
    this.connected = true;
    await this.join();
    this.recheck = setInterval(() => {
      if (this.connected && !this.closed) void this.presence.recount(this.sql);
    }, PRESENCE_RECHECK_MS);
    this.recheck.unref?.();
  }

  /** Registers this listener with the others and counts them (after its LISTEN is in force). */
  private async join(): Promise<void> {
    await this.presence.join(this.sql, this.channel, `${this.self}:h`);
    await this.presence.recount(this.sql);
  }

  private dispatch(message: string): void {
    const colon = message.indexOf(":");
    // This provider's own announcements: it woke its own fetches when it committed.
    if (colon < 0 || message.slice(0, colon) === this.self) return;
    const payload = message.slice(colon + 1);
    const kind = payload.charAt(0);
    if (kind === "t") return this.handlers.terminal(payload.slice(1));
    if (kind === "h") {
      this.presence.joined();
      return this.handlers.joined();
    }
    if (kind === "a") return this.handlers.all();
    const delay = payload.length > 1 ? Number(payload.slice(1)) : 0;
    const ms = Number.isFinite(delay) && delay > 0 ? delay : 0;
    if (kind === "o") this.handlers.orchestrator(ms);
    else if (kind === "w") this.handlers.worker(ms);
  }

  /** The connection closed: reconnect (Bun.SQL re-issues LISTEN on the new connection) with back-off. */
  private lost(): void {
    this.connected = false;
    this.presence.lost();
    if (this.closed || this.reconnecting) return;
    this.reconnecting = true;
    void (async () => {
      let backoff = 50;
      while (!this.closed) {
        await Bun.sleep(backoff);
        if (this.closed) break;
        try {
          // LISTEN again before saying hello (whether or not Bun.SQL re-issues its own): the
          // others' answer to the hello must find this connection listening.
          await this.sql.unsafe(`LISTEN ${quoted(this.channel)}`);
          await this.join();
          this.connected = true;
          this.reconnects++;
          this.handlers.all();
          break;
        } catch {
          backoff = Math.min(backoff * 2, 2000);
        }
      }
      this.reconnecting = false;
    })();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.recheck !== null) clearInterval(this.recheck);
    try {
      await this.subscription?.unlisten();
    } catch {
      // the connection may already be gone
    }
    await this.sql.close({ timeout: 1 }).catch(() => {});
  }
}
