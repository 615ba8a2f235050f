/**
 * The provider's listener (docs/provider-contract.md §16.4). Other processes announce their
 * committed work on the schema's channel; the LISTEN (a connection Bun.SQL dedicates to it) hears
 * them and wakes this process's waiting fetches, at once for work visible now and by a timer for
 * work that becomes visible later. Terminal statuses wake clients waiting on the instance. A
 * second session of its own holds the presence lock and runs the presence counts (presence.ts).
 *
 * When the LISTEN's connection drops (a server restart, a network cut), notifications sent
 * meanwhile are lost: Bun.SQL reconnects with back-off and re-subscribes, and then the listener
 * says hello again and wakes everything once, so nothing waits for the fallback poll longer than
 * the outage itself. When only the other session dropped, a notification the listener sends
 * itself shows that it still hears.
 */
import { SQL } from "bun";
import { PRESENCE_RECHECK_MS, Presence } from "./presence.ts";

export interface ListenerHandlers {
  /** Orchestrator-queue work visible in `delayMs` (0: now). */
  orchestrator(delayMs: number): void;
  worker(delayMs: number): void;
  terminal(instance: string): void;
  /** After a reconnect, or asked by another provider: anything may have happened. */
  all(): void;
  /** Another provider started listening (null: one whose hello was missed): tell it to look at everything. */
  joined(newcomer: string | null): void;
}

export class Listener {
  private readonly sql: SQL;
  private closed = false;
  private pinging = false;
  private subscription: { unlisten(): Promise<void> } | null = null;
  /** Times Bun.SQL confirmed the LISTEN (1 after start, one more per re-subscribe). */
  private listens = 0;
  /** Whether this listener hears the channel (false from a lost connection until it is sure again). */
  connected = false;
  /** Times the LISTEN was re-established after a loss (for tests and diagnostics). */
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
    this.subscription = await this.sql.listen(this.channel, (payload) => this.dispatch(payload), () => this.listening());
    if (this.listens === 0) this.listening();
    await this.presence.join(this.sql, this.channel, `${this.self}:h`);
    await this.presence.recount(this.sql);
    this.recheck = setInterval(() => void this.tick(), PRESENCE_RECHECK_MS);
    this.recheck.unref?.();
  }

  /** Bun.SQL confirmed the LISTEN: at start, and after each re-subscribe on a new connection. */
  private listening(): void {
    this.listens++;
    this.connected = true;
    this.presence.heard();
    if (this.listens === 1 || this.closed) return;
    this.reconnects++;
    // Notifications sent while it was down are lost: say hello (the others answer "look at
    // everything") and look at everything now.
    void this.presence.join(this.sql, this.channel, `${this.self}:h`);
    this.handlers.all();
  }

  /** The periodic count; a count that finds this provider's lock gone takes it again and says hello. */
  async tick(): Promise<void> {
    if (this.closed) return;
    const count = await this.presence.recount(this.sql);
    if (this.closed) return;
    if (count.mine === false) await this.presence.join(this.sql, this.channel, `${this.self}:h`);
    if (count.discovered) this.handlers.joined(null);
  }

  private dispatch(message: string): void {
    const colon = message.indexOf(":");
    if (colon < 0) return;
    const sender = message.slice(0, colon);
    const payload = message.slice(colon + 1);
    const kind = payload.charAt(0);
    if (sender === this.self) {
      // Its own announcements: it woke its own fetches when it committed. Its own ping: it hears.
      if (kind === "p" && !this.connected) {
        this.connected = true;
        this.presence.heard();
      }
      return;
    }
    if (kind === "t") return this.handlers.terminal(payload.slice(1));
    if (kind === "h") {
      this.presence.joined();
      return this.handlers.joined(sender);
    }
    if (kind === "a") {
      const to = payload.slice(1);
      if (to === "" || to === this.self) this.handlers.all();
      return;
    }
    const delay = payload.length > 1 ? Number(payload.slice(1)) : 0;
    const ms = Number.isFinite(delay) && delay > 0 ? delay : 0;
    if (kind === "o") this.handlers.orchestrator(ms);
    else if (kind === "w") this.handlers.worker(ms);
  }

  /**
   * One of the listener's connections closed. If it was the LISTEN's, Bun.SQL re-subscribes and
   * listening() follows; if it was the other session, the LISTEN still hears, which a ping to
   * itself shows. Either ends the "cannot hear" state; the next count takes the lock again if
   * it went with the session.
   */
  private lost(): void {
    this.connected = false;
    this.presence.lost();
    if (this.closed || this.pinging) return;
    this.pinging = true;
    void (async () => {
      let backoff = 50;
      while (!this.closed && !this.connected) {
        await Bun.sleep(backoff);
        if (this.closed || this.connected) break;
        try {
          await this.sql.unsafe("SELECT pg_notify($1::text, $2::text)", [this.channel, `${this.self}:p`]);
        } catch {
          // the server is not back yet
        }
        backoff = Math.min(backoff * 2, 2000);
      }
      this.pinging = false;
      if (!this.closed) await this.tick();
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
