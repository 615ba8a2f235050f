// Announcements only while another provider listens (src/providers/postgres/presence.ts,
// docs/provider-contract.md §16.4). The Presence tests use a fake connection (no server); the
// others use providers on a fresh schema, each standing for a process (own pools, own listening
// connection), with the fallback poll at a minute so that only a notification can wake a fetch.
import { describe, expect, test } from "bun:test";
import { SQL } from "bun";
import { TagFilter } from "../../src/core/queue-types.ts";
import { activityItem, startItem } from "../../src/provider-tests/helpers.ts";
import { PostgresProvider } from "../../src/providers/postgres.ts";
import { type Count, PRESENCE_KEY_CLASS, Presence, presenceKey } from "../../src/providers/postgres/presence.ts";
import { postgresForTests } from "../providers/postgres-server.ts";
import { freshSchema, postgresTestKit, spyQueries, within } from "./helpers.ts";

/** A connection whose count query answers what the test says, when the test says. */
function fakeConnection(): { sql: SQL; answer(n: number, mine?: boolean): void; fail(): void } {
  const calls: { resolve(rows: unknown[]): void; reject(e: Error): void }[] = [];
  const sql = {
    unsafe: (text: string) =>
      text.includes("pg_try_advisory_lock_shared")
        ? Promise.resolve([{ locked: true, sent: "" }])
        : new Promise<unknown[]>((resolve, reject) => calls.push({ resolve, reject })),
  } as unknown as SQL;
  return {
    sql,
    answer: (n, mine = true) => calls.shift()!.resolve([{ n, mine }]),
    fail: () => calls.shift()!.reject(new Error("connection lost")),
  };
}

/** A count that the fake connection answers at once with `n` holders (`mine`: this provider's among them). */
function counted(p: Presence, c: ReturnType<typeof fakeConnection>, n: number, mine = true): Promise<Count> {
  const count = p.recount(c.sql);
  c.answer(n, mine);
  return count;
}

/** A Presence that hears and has joined, its first count (alone) done. */
async function alone(c: ReturnType<typeof fakeConnection>): Promise<Presence> {
  const p = new Presence(presenceKey("s"));
  expect(p.othersListening).toBe(true);
  p.heard();
  expect(await p.join(c.sql, "duroxide_s", "me:h")).toBe(true);
  expect(await counted(p, c, 1)).toEqual({ mine: true, discovered: false });
  expect(p.othersListening).toBe(false);
  return p;
}

describe("Presence", () => {
  test("others are assumed present until a count says otherwise; a count of only this listener says nobody else", async () => {
    const c = fakeConnection();
    const p = await alone(c);
    // Others found where it believed there were none: a hello it missed, so it answers everyone.
    expect(await counted(p, c, 2)).toEqual({ mine: true, discovered: true });
    expect(p.othersListening).toBe(true);
  });

  test("a hello heard while a count runs keeps the newcomer: the count may predate its lock", async () => {
    const c = fakeConnection();
    const p = await alone(c);
    const racing = p.recount(c.sql);
    p.joined();
    c.answer(1); // counted before the newcomer took its lock
    await racing;
    expect(p.othersListening).toBe(true);
    // The next count, begun after the hello, is believed.
    await counted(p, c, 1);
    expect(p.othersListening).toBe(false);
  });

  test("a failed count, a lost connection and a count made while deaf all mean: announce", async () => {
    const c = fakeConnection();
    const p = await alone(c);
    const failing = p.recount(c.sql);
    c.fail();
    expect((await failing).mine).toBeNull();
    expect(p.othersListening).toBe(true);

    await counted(p, c, 1);
    expect(p.othersListening).toBe(false);
    p.lost();
    expect(p.othersListening).toBe(true);
    // Cannot hear hellos: a count of nobody else is not believed.
    await counted(p, c, 1);
    expect(p.othersListening).toBe(true);
    p.heard();
    await counted(p, c, 1);
    expect(p.othersListening).toBe(false);
  });

  test("a count that finds its own lock gone says so (mine false), and counts every holder as another", async () => {
    const c = fakeConnection();
    const p = await alone(c);
    // Its session was replaced: the one holder is someone else.
    expect(await counted(p, c, 1, false)).toEqual({ mine: false, discovered: true });
    expect(p.registered).toBe(false);
    expect(p.othersListening).toBe(true);
  });

  test("presenceKey is a 31-bit number that differs between schemas", () => {
    const keys = ["a", "b", "duroxide", "stress_0123456789ab", "test_0123456789abcdef"].map(presenceKey);
    for (const k of keys) {
      expect(Number.isInteger(k)).toBe(true);
      expect(k).toBeGreaterThanOrEqual(0);
      expect(k).toBeLessThan(2 ** 31);
    }
    expect(new Set(keys).size).toBe(keys.length);
    expect(presenceKey("a")).toBe(presenceKey("a"));
  });
});

const pg = await postgresForTests();
const SLOW_POLL = { fallbackPollIntervalMs: 60_000, poolMax: 3 };
const { connect, pgTest } = postgresTestKit(pg, SLOW_POLL);



interface Insides {
  announcer: { sent: number; skipped: number };
  listener: {
    presence: Presence;
    sql: SQL;
    dispatch(message: string): void;
    tick(): Promise<void>;
    recheck: ReturnType<typeof setInterval> | null;
    connected: boolean;
    reconnects: number;
  };
  sender: string;
}
const insides = (p: PostgresProvider) => p as unknown as Insides;

/** Resolves once `cond` holds, checking every 10 ms; rejects naming `what` after `ms`. */
async function until(what: string, cond: () => boolean, ms = 10_000): Promise<void> {
  const deadline = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await Bun.sleep(10);
  }
}

pgTest("a provider alone on its schema sends no NOTIFY; once another listens it announces, and when that one leaves it stops again", async () => {
  const schema = freshSchema();
  const a = await connect(schema);
  const ia = insides(a);
  expect(ia.listener.presence.registered).toBe(true);
  expect(ia.listener.presence.othersListening).toBe(false);
  await a.enqueueForOrchestrator(startItem("alone-1"), null);
  expect(ia.announcer.sent).toBe(0);
  expect(ia.announcer.skipped).toBeGreaterThan(0);

  const b = await connect(schema);
  // B counted A when it joined; A learns of B from B's hello, and answers it (one announcement).
  expect(insides(b).listener.presence.othersListening).toBe(true);
  await until("A hearing B's hello", () => ia.listener.presence.othersListening);
  await until("A's answer to the hello", () => ia.announcer.sent >= 1);
  const sentBefore = ia.announcer.sent;
  await a.enqueueForOrchestrator(startItem("shared-1"), null);
  await until("A's announcement of its enqueue", () => ia.announcer.sent > sentBefore);

  await b.close();
  // B's lock went with its listening connection: A's next count (every 2 s) finds nobody.
  await until("A's count without B", () => !ia.listener.presence.othersListening, 10_000);
  const skippedBefore = ia.announcer.skipped;
  const sentAfter = ia.announcer.sent;
  await a.enqueueForOrchestrator(startItem("alone-2"), null);
  expect(ia.announcer.skipped).toBeGreaterThan(skippedBefore);
  expect(ia.announcer.sent).toBe(sentAfter);
});

pgTest("work committed unannounced before a newcomer's hello was heard reaches the newcomer's waiting fetch through the answer to it", async () => {
  const schema = freshSchema();
  const a = await connect(schema);
  const b = await connect(schema);
  const ia = insides(a);
  await until("A hearing B's hello", () => ia.listener.presence.othersListening);

  // B waits in a long poll (its fallback poll is a minute away).
  const spy = spyQueries(b);
  const fetched = b.fetchOrchestrationItem(30_000, 30_000);
  await spy.settled("fetchOrchestrationItem");

  // A as if B's hello were still on the way: its count (made before B's lock) said nobody. A's
  // own periodic count is stopped, so that it cannot find B meanwhile.
  clearInterval(ia.listener.recheck!);
  const late = fakeConnection();
  const counted = ia.listener.presence.recount(late.sql);
  late.answer(1);
  await counted;
  expect(ia.listener.presence.othersListening).toBe(false);
  const sentBefore = ia.announcer.sent;
  await a.enqueueForOrchestrator(startItem("while-joining"), null);
  expect(ia.announcer.sent).toBe(sentBefore); // not announced: B knows nothing of it yet

  // Now the hello arrives at A; A answers "look at everything", and B's fetch finds the work.
  ia.listener.dispatch(`${insides(b).sender}:h`);
  const item = await within("B's fetch woken by A's answer", fetched, 10_000);
  // Within seconds, where nothing else could wake it for 30 s (poll timeout) or a minute (fallback poll).
  expect(item?.item.instance).toBe("while-joining");
  await b.abandonOrchestrationItem(item!.lockToken, null, true);
});

pgTest("a provider that does not listen announces everything: it cannot know who else listens", async () => {
  const schema = freshSchema();
  const deaf = await connect(schema, { listen: false });
  await deaf.enqueueForWorker(activityItem("deaf-1", 1));
  await until("the deaf provider's announcement", () => insides(deaf).announcer.sent >= 1);
  expect(insides(deaf).announcer.skipped).toBe(0);
  const work = await deaf.fetchWorkItem(30_000, 0, null, TagFilter.defaultOnly());
  expect(work?.item.type).toBe("ActivityExecute");
});

/** Runs `fn` on a connection of the test's own (not any provider's). */
async function withAdmin<T>(fn: (sql: SQL) => Promise<T>): Promise<T> {
  const sql = new SQL(pg.url!, { max: 1 });
  try {
    return await fn(sql);
  } finally {
    await sql.close({ timeout: 1 });
  }
}

/** The backends holding this schema's presence lock (the schema is the test's own, so its key is too). */
async function lockHolders(schema: string): Promise<number[]> {
  return withAdmin(async (sql) =>
    (await sql.unsafe(
      "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 2 AND granted AND classid = $1::bigint::oid AND objid = $2::bigint::oid ORDER BY pid",
      [PRESENCE_KEY_CLASS, presenceKey(schema)],
    )).map((r: { pid: number }) => r.pid),
  );
}

type Woken = { orchestratorWork: { generation: number } };
const generation = (p: PostgresProvider) => (p as unknown as Woken).orchestratorWork.generation;

pgTest("the answer to a hello is addressed: only the newcomer looks again; an answer to nobody in particular makes everyone look", async () => {
  const schema = freshSchema();
  const a = await connect(schema);
  const c = await connect(schema);
  const fromB = "b0b0b0b0";
  const [ga, gc] = [generation(a), generation(c)];
  insides(c).listener.dispatch(`${fromB}:a${insides(a).sender}`);
  expect(generation(c)).toBe(gc);
  insides(a).listener.dispatch(`${fromB}:a${insides(a).sender}`);
  expect(generation(a)).toBeGreaterThan(ga);
  insides(c).listener.dispatch(`${fromB}:a`);
  expect(generation(c)).toBeGreaterThan(gc);
});

pgTest("when the session holding a provider's presence lock dies, it hears on (its ping comes back) and its next count takes the lock again", async () => {
  const schema = freshSchema();
  const a = await connect(schema);
  const la = insides(a).listener;
  clearInterval(la.recheck!); // counts run when the test says
  const [holder] = await lockHolders(schema);
  expect(holder).toBeGreaterThan(0);
  await withAdmin((sql) => sql.unsafe("SELECT pg_terminate_backend($1::int)", [holder]));
  await until("the listener to notice the loss", () => !la.connected, 10_000);
  await until("the listener's ping to come back", () => la.connected, 10_000);
  // The ping loop ends with a count, which finds the lock gone and takes it again.
  await until("the lock to be held again", () => la.presence.registered, 10_000);
  const holders = await lockHolders(schema);
  expect(holders.length).toBe(1);
  expect(holders[0]).not.toBe(holder);
  expect(la.reconnects).toBe(0); // the LISTEN itself never dropped
});

pgTest("when a provider's LISTEN connection dies, it re-subscribes, says hello again, and another provider answers it", async () => {
  const schema = freshSchema();
  const a = await connect(schema);
  const b = await connect(schema);
  const la = insides(a).listener;
  // A answered B's hello; B, which joined later, never heard one from A.
  await until("A's answer to B's hello", () => insides(a).announcer.sent >= 1);
  const answered = insides(b).announcer.sent;
  const holders = await lockHolders(schema);
  const channel = `duroxide_${schema}`;
  // Both LISTEN backends, oldest first: A connected (and listened) before B was created.
  const listeners = await withAdmin(async (sql) =>
    (await sql.unsafe("SELECT pid FROM pg_stat_activity WHERE query ILIKE 'LISTEN%' AND position($1 in query) > 0 ORDER BY backend_start", [channel])).map(
      (r: { pid: number }) => r.pid,
    ),
  );
  expect(listeners.length).toBe(2); // neither of them a lock holder
  for (const pid of listeners) expect(holders).not.toContain(pid);
  await withAdmin((sql) => sql.unsafe("SELECT pg_terminate_backend($1::int)", [listeners[0]]));
  await until("A to re-subscribe", () => la.reconnects >= 1 && la.connected, 15_000);
  // A said hello again, and B answered it.
  await until("B's answer to A's hello after the re-subscribe", () => insides(b).announcer.sent > answered, 10_000);
  expect(la.presence.registered).toBe(true);
});
