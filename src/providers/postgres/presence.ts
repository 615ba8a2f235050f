/**
 * Whether any other provider listens on this schema's channel (docs/provider-contract.md §16.4).
 *
 * Announcements (announcer.ts) exist for other processes: a provider wakes its own fetches and
 * waiters directly. With nobody else listening, each NOTIFY is a transaction of its own that
 * takes PostgreSQL's global notify lock and, since a notifying transaction gets a transaction id,
 * waits for a WAL flush; at one instance in flight that was 8 of them per orchestration beside
 * the 6 that record its work. So a provider announces only while others listen.
 *
 * Who listens: every listening provider holds a shared session advisory lock on a key derived
 * from the schema (two-int form, so it never meets the single-bigint keys of the claims), on its
 * listener's own session (Bun.SQL gives the LISTEN a dedicated connection of its own, which runs
 * nothing else). `pg_locks` shows the holders to every role; a session that dies releases its
 * lock with it. A provider counts the holders when it starts and every PRESENCE_RECHECK_MS; a
 * count that finds its own lock missing (its session was replaced) takes it again and says hello.
 * It believes others are present whenever it cannot tell: before its first count, while it
 * cannot hear (its LISTEN is not in force), after a count fails.
 *
 * Joining without losing a wake-up: a provider says hello (`<sender>:h`) once its LISTEN is in
 * force (at start and after every re-subscribe) and its lock is taken. A provider that hears a
 * hello counts others as present from then on and answers `<sender>:a<newcomer>` ("look at
 * everything"), sent after the hello was handled: anything it committed without announcing was
 * committed before that answer, so the newcomer's looks after the answer see it. A count that
 * began before a hello arrived (or before this provider could hear again) cannot lower the flag,
 * and a count that finds others where it believed there were none (a hello it missed) answers
 * everyone.
 */
import type { SQL } from "bun";

/** How often a provider counts the other listeners: the longest it announces to one that left. */
export const PRESENCE_RECHECK_MS = 2000;

/** The first half of every presence key: "DX" and 1, so it is unlikely to meet an application's key. */
export const PRESENCE_KEY_CLASS = 0x44580001;

/** The second half: a 31-bit FNV-1a hash of the schema name (a collision costs announcements, nothing else). */
export function presenceKey(schema: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < schema.length; i++) {
    h ^= schema.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h & 0x7fffffff;
}

export interface Count {
  /** Whether this provider's session holds its lock (null: the count failed). */
  mine: boolean | null;
  /** Others were found where this provider believed there were none: a hello was missed. */
  discovered: boolean;
}

export class Presence {
  /** Whether another listener may be present: true unless a count said otherwise. */
  private others = true;
  /** Hellos, losses and re-subscribes seen: a count that began before one of them may not lower `others`. */
  private joins = 0;
  /** Whether this provider's LISTEN is in force (it can hear hellos). */
  private hearing = false;
  /** Whether this provider's session held its presence lock at the last join or count. */
  registered = false;

  constructor(private readonly key: number) {}

  /** Whether announcements should be sent. */
  get othersListening(): boolean {
    return this.others;
  }

  /** Takes the presence lock on `sql` and says hello; never throws (a failure leaves it unregistered). */
  async join(sql: SQL, channel: string, hello: string): Promise<boolean> {
    try {
      const [row] = await sql.unsafe(
        "SELECT pg_try_advisory_lock_shared($1::int, $2::int) AS locked, pg_notify($3::text, $4::text) AS sent",
        [PRESENCE_KEY_CLASS, this.key, channel, hello],
      );
      this.registered = row?.locked === true;
    } catch {
      this.registered = false;
    }
    return this.registered;
  }

  /** Counts the listeners other than this one; never throws (a failed count leaves `others` true). */
  async recount(sql: SQL): Promise<Count> {
    const joinsBefore = this.joins;
    let n: number;
    let mine: boolean;
    try {
      const [row] = await sql.unsafe(
        `SELECT count(*)::int AS n, coalesce(bool_or(pid = pg_backend_pid()), false) AS mine FROM pg_locks
          WHERE locktype = 'advisory' AND objsubid = 2 AND granted
            AND classid = $1::bigint::oid AND objid = $2::bigint::oid
            AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
        [PRESENCE_KEY_CLASS, this.key],
      );
      n = Number(row?.n ?? 0);
      mine = row?.mine === true;
    } catch {
      this.others = true;
      return { mine: null, discovered: false };
    }
    this.registered = mine;
    const others = n - (mine ? 1 : 0) > 0;
    const discovered = others && !this.others;
    if (others) this.others = true;
    // Lowered only by a count that began while this provider could hear, with no hello since.
    else if (this.hearing && this.joins === joinsBefore) this.others = false;
    return { mine, discovered };
  }

  /** Another provider said hello: it listens from now on. */
  joined(): void {
    this.joins++;
    this.others = true;
  }

  /** This provider's LISTEN is in force (again). */
  heard(): void {
    this.joins++;
    this.hearing = true;
  }

  /** A listener connection closed: until it hears again, hellos may be missed, so announce. */
  lost(): void {
    this.joins++;
    this.hearing = false;
    this.others = true;
    this.registered = false; // unknown until the next count (the lock may have gone with the session)
  }
}
