/**
 * Whether any other provider listens on this schema's channel (docs/provider-contract.md §16.4).
 *
 * Announcements (announcer.ts) exist for other processes: a provider wakes its own fetches and
 * waiters directly. With nobody else listening, each NOTIFY is a transaction of its own that
 * takes PostgreSQL's global notify lock and, since a notifying transaction gets a transaction id,
 * waits for a WAL flush; at one instance in flight that was 8 of them per orchestration beside
 * the 6 that record its work. So a provider announces only while others listen.
 *
 * Who listens: every listening connection holds a shared session advisory lock on a key derived
 * from the schema (two-int form, so it never meets the single-bigint keys of the claims), and
 * `pg_locks` shows them all, to every role; a connection that dies releases its lock with it.
 * A provider counts the holders when it starts and every PRESENCE_RECHECK_MS, and believes
 * others are present whenever it cannot tell (before the first count, while its listening
 * connection is down, after a count fails).
 *
 * Joining without losing a wake-up: a starting provider listens, takes the lock, then says hello
 * (`<sender>:h`). A provider that hears a hello counts others as present from then on, and
 * answers with `<sender>:a` ("look again at everything"), sent through its announcer after the
 * hello was handled. Anything it committed without announcing was committed before that answer,
 * so the newcomer's looks after the answer see it. A count that started before a hello arrived
 * cannot take the newcomer away again (the join counter below).
 */
import type { SQL } from "bun";

/** How often a provider counts the other listeners: the longest it announces to one that left. */
export const PRESENCE_RECHECK_MS = 2000;

/** The first half of every presence key: "DX" and 1, so it is unlikely to meet an application's key. */
const PRESENCE_KEY_CLASS = 0x44580001;

/** The second half: a 31-bit FNV-1a hash of the schema name (a collision costs announcements, nothing else). */
export function presenceKey(schema: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < schema.length; i++) {
    h ^= schema.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h & 0x7fffffff;
}

export class Presence {
  /** Whether another listener may be present: true unless a count said otherwise. */
  private others = true;
  /** Hellos and connection losses seen: a count that began before one of them may not lower `others`. */
  private joins = 0;
  /** Whether this connection holds its presence lock (false: other providers do not count it). */
  registered = false;

  constructor(private readonly key: number) {}

  /** Whether announcements should be sent. */
  get othersListening(): boolean {
    return this.others;
  }

  /** Takes the presence lock on `sql` (the listening connection, after its LISTEN) and says hello. */
  async join(sql: SQL, channel: string, hello: string): Promise<void> {
    const [row] = await sql.unsafe(
      "SELECT pg_try_advisory_lock_shared($1::int, $2::int) AS locked, pg_notify($3::text, $4::text) AS sent",
      [PRESENCE_KEY_CLASS, this.key, channel, hello],
    );
    this.registered = row?.locked === true;
  }

  /** Counts the listeners other than this one. A failed count leaves `others` true. */
  async recount(sql: SQL): Promise<void> {
    const joinsBefore = this.joins;
    let n: number;
    try {
      const [row] = await sql.unsafe(
        `SELECT count(*)::int AS n FROM pg_locks
          WHERE locktype = 'advisory' AND objsubid = 2 AND granted
            AND classid = $1::bigint::oid AND objid = $2::bigint::oid
            AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
        [PRESENCE_KEY_CLASS, this.key],
      );
      n = Number(row?.n ?? 0);
    } catch {
      this.others = true;
      return;
    }
    const others = n - (this.registered ? 1 : 0) > 0;
    // A hello or a loss while the count ran: its answer may predate the newcomer; keep announcing.
    if (others || this.joins === joinsBefore) this.others = others;
  }

  /** Another provider said hello: it listens from now on. */
  joined(): void {
    this.joins++;
    this.others = true;
  }

  /** The listening connection is gone (and its lock with it): announce until a new count says otherwise. */
  lost(): void {
    this.joins++;
    this.others = true;
    this.registered = false;
  }
}
