// Claiming ahead (src/providers/postgres/claimed-ahead.ts, docs/provider-contract.md §16.4): a
// turn's ack, or a worker fetch that finds work, claims activities for this process's busy worker
// fetches in its own transaction, and the next fetches take them without a round trip. The ClaimedAhead tests need no server;
// the others run providers on a fresh schema (A the one that claims, B another process).
import { describe, expect, test } from "bun:test";
import { SQL } from "bun";
import { type FetchedWorkItem, TagFilter } from "../../src/core/queue-types.ts";
import { encodeWorkItem } from "../../src/core/work-items.ts";
import { activityCompletedItem, activityItem, activityScheduledEvent, runningMeta, startItem, startedEvent } from "../../src/provider-tests/helpers.ts";
import { PostgresProvider } from "../../src/providers/postgres.ts";
import { CLAIM_AHEAD_HOLD_MS, ClaimedAhead, MIXED_FILTERS_WINDOW_MS, claimAheadHoldMs, claimAheadLockMs } from "../../src/providers/postgres/claimed-ahead.ts";
import { postgresForTests } from "../providers/postgres-server.ts";
import { freshSchema, postgresTestKit, spyQueries, within } from "./helpers.ts";

describe("ClaimedAhead", () => {
  test("reserve: nothing without recent takes of that filter; then as many as were taken in the hold window, less those held or being claimed, at most max", () => {
    const c = new ClaimedAhead<string>(4, () => {});
    expect(c.reserve("k", 5, 1_000)).toBe(0);
    c.noteTaken("k", 1_000);
    c.noteTaken("k", 1_010);
    expect(c.reserve("other", 5, 1_020)).toBe(0);
    expect(c.reserve("k", 1, 1_020)).toBe(1);
    c.cancel(1);
    // Takes older than the hold window no longer count.
    expect(c.reserve("k", 5, 1_010 + CLAIM_AHEAD_HOLD_MS + 1)).toBe(0);
    for (let i = 0; i < 10; i++) c.noteTaken("k", 2_000 + i);
    // Two claims at once share the room: the second gets what the first left (max 4).
    expect(c.reserve("k", 3, 2_010)).toBe(3);
    expect(c.reserve("k", 3, 2_010)).toBe(1);
    expect(c.reserve("k", 3, 2_010)).toBe(0);
    c.put("k", ["a", "b"], 3, 30_000, 2_010); // claimed 2 of the 3 reserved
    expect(c.size).toBe(2);
    expect(c.reserve("k", 9, 2_011)).toBe(1); // 4 - 2 held - 1 still being claimed
    c.cancel(2); // a failed claim gives its room back (never below zero)
    expect(c.reserve("k", 9, 2_011)).toBe(2);
    expect(c.drain()).toEqual(["a", "b"]);
  });

  test("reserve: nothing while a fetch of another filter took work in the last minute (MIXED_FILTERS_WINDOW_MS)", () => {
    const c = new ClaimedAhead<string>(8, () => {});
    c.noteTaken("k", 1_000);
    c.noteTaken("other", 1_010);
    c.noteTaken("k", 1_020);
    expect(c.reserve("k", 5, 1_030)).toBe(0);
    expect(c.reserve("other", 5, 1_030)).toBe(0);
    // A minute after the other filter's last take, the demand of "k" counts again.
    const later = 1_010 + MIXED_FILTERS_WINDOW_MS + 1;
    c.noteTaken("k", later - 10);
    c.noteTaken("k", later - 5);
    expect(c.reserve("k", 5, later)).toBe(2);
  });

  test("take: the oldest young entry of the key; other keys untouched; entries past their hold go back on the way", () => {
    const released: string[] = [];
    const c = new ClaimedAhead<string>(8, (r) => released.push(r));
    c.put("k", ["old"], 0, 30_000, 0);
    c.put("other", ["x"], 0, 30_000, 50);
    c.put("k", ["young1", "young2"], 0, 30_000, CLAIM_AHEAD_HOLD_MS);
    expect(c.take("k", CLAIM_AHEAD_HOLD_MS + 1)).toBe("young1");
    expect(released).toEqual(["old"]);
    expect(c.take("k", CLAIM_AHEAD_HOLD_MS + 2)).toBe("young2");
    expect(c.take("k", CLAIM_AHEAD_HOLD_MS + 3)).toBeUndefined();
    expect(c.size).toBe(1);
    expect(c.drain()).toEqual(["x"]);
  });

  test("the hold is a quarter of the lock timeout when that is shorter, and the claim locks for the lock timeout plus the hold", () => {
    expect(claimAheadHoldMs(30_000)).toBe(CLAIM_AHEAD_HOLD_MS);
    expect(claimAheadHoldMs(100)).toBe(25);
    expect(claimAheadLockMs(30_000)).toBe(30_000 + CLAIM_AHEAD_HOLD_MS);
    expect(claimAheadLockMs(100)).toBe(125);
    const released: string[] = [];
    const c = new ClaimedAhead<string>(8, (r) => released.push(r));
    c.put("k", ["short"], 0, 100, 0); // hold 25 ms
    expect(c.take("k", 26)).toBeUndefined();
    expect(released).toEqual(["short"]);
    c.drain();
  });

  test("an entry nobody takes is given back by the sweep once its hold has passed; a later entry with a shorter hold re-arms it sooner", async () => {
    const back: string[] = [];
    let wake!: () => void;
    const shortBack = new Promise<void>((r) => (wake = r));
    const c = new ClaimedAhead<string>(8, (row) => {
      back.push(row);
      if (row === "short") wake();
    });
    const at = performance.now();
    c.put("k", ["long"], 0, 30_000, at); // hold 100 ms
    c.put("k2", ["short"], 0, 40, at); // hold 10 ms: the sweep must not wait for the first
    await within("the sweep of the short hold", shortBack, 5_000);
    expect(performance.now() - at).toBeLessThan(CLAIM_AHEAD_HOLD_MS);
    expect(back).toEqual(["short"]);
    await until("the sweep of the long hold", () => back.length === 2, 5_000);
    expect(performance.now() - at).toBeGreaterThanOrEqual(CLAIM_AHEAD_HOLD_MS);
    expect(c.size).toBe(0);
  });

  test("max 0 never claims ahead", () => {
    const c = new ClaimedAhead<string>(0, () => {});
    c.noteTaken("k", 0);
    c.noteTaken("k", 1);
    expect(c.reserve("k", 5, 2)).toBe(0);
  });
});

/** Resolves once `cond` holds, checking every 5 ms; rejects naming `what` after `ms`. */
async function until(what: string, cond: () => boolean, ms = 10_000): Promise<void> {
  const deadline = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await Bun.sleep(5);
  }
}

const pg = await postgresForTests();
const { connect, pgTest } = postgresTestKit(pg, { fallbackPollIntervalMs: 60_000, poolMax: 3 });



type Insides = { claimedAhead: ClaimedAhead<unknown> };
const held = (p: PostgresProvider) => (p as unknown as Insides).claimedAhead;
const DEFAULT = TagFilter.defaultOnly();

/** Resolves once a backend runs this schema's ack_orch_claim_work and waits on a lock. */
async function claimWaitsOnLock(schema: string): Promise<void> {
  const watcher = new SQL(pg.url!, { max: 1 });
  try {
    const deadline = performance.now() + 10_000;
    for (;;) {
      const [r] = await watcher.unsafe(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND position($1 in query) > 0`, [
        `"${schema}".ack_orch_claim_work`,
      ]);
      if (r.n > 0) return;
      if (performance.now() > deadline) throw new Error("the ack claiming ahead never waited on the lock");
      await Bun.sleep(5);
    }
  } finally {
    await watcher.close();
  }
}

/** Holds a SHARE lock on the schema's history table (every ack waits) until the returned function is called. */
async function holdHistory(schema: string): Promise<() => Promise<void>> {
  const sql = new SQL(pg.url!, { max: 1 });
  const conn = await sql.reserve();
  await conn.unsafe("BEGIN");
  await conn.unsafe(`LOCK TABLE "${schema}".history IN SHARE MODE`);
  return async () => {
    await conn.unsafe("ROLLBACK");
    conn.release();
    await sql.close();
  };
}

/** Enqueues `n` activities of `instance` and has A fetch them all: A's fetches of `filter` look busy. */
async function busyFetches(a: PostgresProvider, instance: string, n: number, filter = DEFAULT, tag?: string) {
  for (let i = 1; i <= n; i++) await a.enqueueForWorker(activityItem(instance, i, tag === undefined ? {} : { tag }));
  const fetched = [];
  for (let i = 0; i < n; i++) fetched.push(await a.fetchWorkItem(30_000, 0, null, filter));
  expect(fetched.every((w) => w !== null)).toBe(true);
  return fetched;
}

/** Enqueues a start for `instance` and fetches its first turn. */
async function startTurn(a: PostgresProvider, instance: string) {
  await a.enqueueForOrchestrator(startItem(instance), null);
  const f = await a.fetchOrchestrationItem(30_000, 0);
  expect(f?.item.instance).toBe(instance);
  return f!;
}

/**
 * Makes A's worker fetches look busy (two fetches that found work, just now), then commits a turn
 * of `instance` that schedules `activities` (options per activity). The orchestration item is
 * fetched first, so that nothing but the ack stands between the fetches and the claim.
 */
async function busyThenTurn(a: PostgresProvider, instance: string, activities: ReturnType<typeof activityItem>[]): Promise<void> {
  const f = await startTurn(a, instance);
  // Two fetches that find work, then at once the ack (their own acks after it, so that no
  // durable write stands between the demand and the claim).
  const warm = await busyFetches(a, `${instance}-warm`, 2);
  const acked = a.ackOrchestrationItem(
    f!.lockToken,
    1,
    [startedEvent(instance), ...activities.map((w) => activityScheduledEvent(instance, 1, w.id))],
    activities,
    [],
    runningMeta(),
    [],
  );
  await acked;
  for (const w of warm) await a.ackWorkItem(w!.lockToken, null);
}

pgTest("a turn's ack claims its activities for A's busy worker fetches; A's next fetches take them without a round trip, and B cannot take them meanwhile", async () => {
  const schema = freshSchema();
  const a = await connect(schema);
  const b = await connect(schema);
  await busyThenTurn(a, "ca-1", [activityItem("ca-1", 2), activityItem("ca-1", 3)]);
  expect(held(a).size).toBe(2);
  // Locked for A: another process finds nothing.
  expect(await b.fetchWorkItem(30_000, 0, null, DEFAULT)).toBeNull();
  const spy = spyQueries(a);
  const first = await a.fetchWorkItem(30_000, 0, null, DEFAULT);
  const second = await a.fetchWorkItem(30_000, 0, null, DEFAULT);
  expect(spy.count("fetchWorkItem")).toBe(0); // no SQL: both came from the claim
  expect([first, second].map((w) => (w?.item.type === "ActivityExecute" ? w.item.id : null))).toEqual([2, 3]);
  expect(first?.attemptCount).toBe(1);
  // The claims are real locks: the acks commit.
  await a.ackWorkItem(first!.lockToken, null);
  await a.ackWorkItem(second!.lockToken, null);
  expect(held(a).size).toBe(0);
});

pgTest("an activity claimed ahead and not taken goes back to the queue after its hold, its attempt not counted, and B's waiting fetch gets it", async () => {
  const schema = freshSchema();
  const a = await connect(schema);
  const b = await connect(schema);
  await busyThenTurn(a, "ca-2", [activityItem("ca-2", 2)]);
  expect(held(a).size).toBe(1);
  const waiting = b.fetchWorkItem(30_000, 30_000, null, DEFAULT);
  const got = await within("B's fetch of the given-back activity", waiting, 10_000);
  expect(got?.item.type === "ActivityExecute" && got.item.instance).toBe("ca-2");
  expect(got?.attemptCount).toBe(1);
  expect(held(a).size).toBe(0);
});

pgTest("session activities are never claimed ahead", async () => {
  const schema = freshSchema();
  const a = await connect(schema);
  const b = await connect(schema);
  await busyThenTurn(a, "ca-3", [activityItem("ca-3", 2, { sessionId: "s-1" })]);
  expect(held(a).size).toBe(0);
  const got = await b.fetchWorkItem(30_000, 0, { owner_id: "b", lock_timeout: 30_000 }, DEFAULT);
  expect(got?.item.type === "ActivityExecute" && got.item.session_id).toBe("s-1");
});

pgTest("close() gives what was claimed ahead back to the queue at once, its attempt not counted", async () => {
  const schema = freshSchema();
  const a = await connect(schema);
  const b = await connect(schema);
  await busyThenTurn(a, "ca-4", [activityItem("ca-4", 2), activityItem("ca-4", 3)]);
  expect(held(a).size).toBe(2);
  await a.close();
  const got = [await b.fetchWorkItem(30_000, 0, null, DEFAULT), await b.fetchWorkItem(30_000, 0, null, DEFAULT)];
  expect(got.map((w) => (w?.item.type === "ActivityExecute" ? w.item.id : null)).sort()).toEqual([2, 3]);
  expect(got.map((w) => w?.attemptCount)).toEqual([1, 1]);
});

pgTest("workerClaimAhead: 0 never claims ahead", async () => {
  const schema = freshSchema();
  const a = await connect(schema, { workerClaimAhead: 0 });
  const b = await connect(schema);
  await busyThenTurn(a, "ca-5", [activityItem("ca-5", 2)]);
  expect(held(a).size).toBe(0);
  expect(await b.fetchWorkItem(30_000, 0, null, DEFAULT)).not.toBeNull();
});

pgTest("a fetch with another lock timeout or tag filter does not take what was claimed for the last fetch's", async () => {
  const schema = freshSchema();
  const a = await connect(schema);
  await busyThenTurn(a, "ca-6", [activityItem("ca-6", 2)]);
  expect(held(a).size).toBe(1);
  const spy = spyQueries(a);
  expect(await a.fetchWorkItem(60_000, 0, null, DEFAULT)).toBeNull(); // looked at the queue: the item is locked
  expect(await a.fetchWorkItem(30_000, 0, null, TagFilter.tags("gpu"))).toBeNull();
  expect(spy.count("fetchWorkItem")).toBe(2);
  expect(held(a).size).toBe(1);
  const own = await a.fetchWorkItem(30_000, 0, null, DEFAULT);
  expect(own?.item.type === "ActivityExecute" && own.item.id).toBe(2);
});

pgTest("an activity claimed ahead that a later turn cancels is dropped: no fetch gets it", async () => {
  const schema = freshSchema();
  const a = await connect(schema);
  await busyThenTurn(a, "ca-7", [activityItem("ca-7", 2), activityItem("ca-7", 3)]);
  expect(held(a).size).toBe(2);
  // A later turn of the instance cancels activity 2 (its row is deleted).
  await a.enqueueForOrchestrator(activityCompletedItem("ca-7", 3), null);
  const f = await a.fetchOrchestrationItem(30_000, 0);
  expect(f?.item.instance).toBe("ca-7");
  await a.ackOrchestrationItem(f!.lockToken, 1, [], [], [], runningMeta(), [{ instance: "ca-7", execution_id: 1, activity_id: 2 }]);
  expect(held(a).size).toBe(1);
  const w = await a.fetchWorkItem(30_000, 0, null, DEFAULT);
  expect(w?.item.type === "ActivityExecute" && w.item.id).toBe(3);
  expect(await a.fetchWorkItem(30_000, 0, null, DEFAULT)).toBeNull();
});

pgTest("a claim ahead locks for the lock timeout plus the hold: an item handed out has at least the lease of a fresh fetch", async () => {
  const schema = freshSchema();
  const a = await connect(schema);
  await busyThenTurn(a, "ca-8", [activityItem("ca-8", 2)]);
  const sql = new SQL(pg.url!, { max: 1 });
  try {
    const [row] = await sql.unsafe(`SELECT locked_until - ${`"${schema}"`}.now_ms() AS left_ms FROM ${`"${schema}"`}.worker_queue WHERE instance_id = 'ca-8'`);
    // 30 s + 100 ms when claimed, a few ms ago; a fetch now would lock for 30 s.
    expect(Number(row.left_ms)).toBeGreaterThan(30_000);
    expect(Number(row.left_ms)).toBeLessThanOrEqual(30_000 + CLAIM_AHEAD_HOLD_MS);
  } finally {
    await sql.close();
  }
});

pgTest("close() while an ack claiming ahead is still committing: what it claims is given back when it lands, not left locked", async () => {
  const schema = freshSchema();
  const a = await connect(schema);
  const b = await connect(schema);
  const f = await startTurn(a, "ca-9");
  await busyFetches(a, "ca-9-warm", 2);
  // Every ack waits (after its claims are made or not: either way nothing may stay locked).
  const release = await holdHistory(schema);
  const acking = a
    .ackOrchestrationItem(f.lockToken, 1, [startedEvent("ca-9"), activityScheduledEvent("ca-9", 1, 2), activityScheduledEvent("ca-9", 1, 3)], [activityItem("ca-9", 2), activityItem("ca-9", 3)], [], runningMeta(), [])
    .catch(() => {});
  await claimWaitsOnLock(schema);
  const closing = a.close();
  await release();
  await closing;
  await acking;
  // Whatever the ack committed is claimable by B now (attempt 1), not locked for 30 s.
  const got = [await b.fetchWorkItem(30_000, 0, null, DEFAULT), await b.fetchWorkItem(30_000, 0, null, DEFAULT)];
  const ids = got.filter((w) => w !== null).map((w) => (w!.item.type === "ActivityExecute" ? `${w!.item.instance}#${w!.item.id}` : ""));
  expect(ids.sort()).toEqual(["ca-9#2", "ca-9#3"]);
  expect(got.map((w) => w?.attemptCount)).toEqual([1, 1]);
});

pgTest("fetches that parked while an ack claiming ahead committed each take one of its items: the first woken wakes the next, nothing is given back", async () => {
  const schema = freshSchema();
  const a = await connect(schema, { poolMax: 6 });
  let givenBack = 0;
  const abandon = a.abandonWorkItem.bind(a);
  (a as { abandonWorkItem: typeof a.abandonWorkItem }).abandonWorkItem = (...args) => {
    givenBack++;
    return abandon(...args);
  };
  const f = await startTurn(a, "ca-10");
  const release = await holdHistory(schema);
  await busyFetches(a, "ca-10-warm", 4); // demand: 4
  const acts = [2, 3, 4, 5].map((id) => activityItem("ca-10", id));
  const acked = a.ackOrchestrationItem(f.lockToken, 1, [startedEvent("ca-10"), ...acts.map((w) => activityScheduledEvent("ca-10", 1, w.id))], acts, [], runningMeta(), []);
  await claimWaitsOnLock(schema);
  // Four fetches look (nothing visible yet) and park while the ack waits.
  const fetches = [0, 1, 2, 3].map(() => a.fetchWorkItem(30_000, 20_000, null, DEFAULT));
  const deadline = performance.now() + 10_000;
  while ((a as unknown as { parkedWork: { size: number } }).parkedWork.size < 4) {
    if (performance.now() > deadline) throw new Error("the four fetches never parked");
    await new Promise((r) => setImmediate(r));
  }
  await release();
  await acked;
  const got = await within("the parked fetches", Promise.all(fetches), 10_000);
  expect(got.map((w) => (w?.item.type === "ActivityExecute" ? w.item.id : null)).sort()).toEqual([2, 3, 4, 5]);
  expect(givenBack).toBe(0);
});

pgTest("close() does not wait without bound for an ack claiming ahead that is stuck on a lock; what was held goes back", async () => {
  const schema = freshSchema();
  const a = await connect(schema, { poolMax: 6 });
  const b = await connect(schema);
  const f = await startTurn(a, "ca-11");
  const first = await startTurn(a, "ca-11a");
  await busyFetches(a, "ca-11-warm", 4);
  // One item held for A's fetches.
  await a.ackOrchestrationItem(first.lockToken, 1, [startedEvent("ca-11a"), activityScheduledEvent("ca-11a", 1, 2)], [activityItem("ca-11a", 2)], [], runningMeta(), []);
  expect(held(a).size).toBe(1);
  // Then an ack claiming ahead, stuck on a lock.
  const release = await holdHistory(schema);
  const acked = a
    .ackOrchestrationItem(f.lockToken, 1, [startedEvent("ca-11"), activityScheduledEvent("ca-11", 1, 2)], [activityItem("ca-11", 2)], [], runningMeta(), [])
    .catch(() => {});
  await claimWaitsOnLock(schema);
  try {
    // Returns while the ack is still stuck (after waiting for it at most 5 s), not when it lands.
    await within("close() with an ack stuck on a lock", a.close(), 15_000);
  } finally {
    await release();
  }
  await acked;
  // The held item went back (at close, or at the end of its hold): B gets it, its attempt not
  // counted (ca-11's activity, if its ack committed, is still locked for A).
  const w = await b.fetchWorkItem(30_000, 0, null, DEFAULT);
  expect(w?.item.type === "ActivityExecute" && w.item.instance).toBe("ca-11a");
  expect(w?.attemptCount).toBe(1);
}, 60_000);

// ---------------------------------------------------------------- a worker fetch that claims ahead

/** Inserts activities `ids` of `instance` straight into the worker queue: work that nobody announces. */
async function insertUnannounced(schema: string, instance: string, ids: number[]): Promise<void> {
  const sql = new SQL(pg.url!, { max: 1 });
  try {
    for (const id of ids) {
      await sql.unsafe(
        `INSERT INTO "${schema}".worker_queue (work_item, visible_at, created_at, instance_id, execution_id, activity_id)
         SELECT $1::text, n, n, $2::text, 1, $3::bigint FROM "${schema}".now_ms() AS n`,
        [encodeWorkItem(activityItem(instance, id)), instance, id],
      );
    }
  } finally {
    await sql.close();
  }
}


const activityId = (w: FetchedWorkItem | null) => (w !== null && w.item.type === "ActivityExecute" ? w.item.id : null);

pgTest("a busy worker fetch that finds work claims more ahead, as many as were taken lately: the next fetches take them in queue order without a round trip, and B cannot take them meanwhile", async () => {
  const schema = freshSchema();
  const a = await connect(schema);
  const b = await connect(schema);
  for (let i = 1; i <= 6; i++) await a.enqueueForWorker(activityItem("fa-1", i));
  const spy = spyQueries(a);
  const got = [];
  // 1: no demand yet, one item. 2: one taken lately, so one more claimed. 3: that one.
  for (let i = 0; i < 3; i++) got.push(await a.fetchWorkItem(30_000, 0, null, DEFAULT));
  expect(spy.count("fetchWorkItem")).toBe(2);
  expect(held(a).size).toBe(0);
  // 4: three taken lately: three more claimed, the rest of the queue.
  got.push(await a.fetchWorkItem(30_000, 0, null, DEFAULT));
  expect(held(a).size).toBe(2);
  expect(await b.fetchWorkItem(30_000, 0, null, DEFAULT)).toBeNull();
  got.push(await a.fetchWorkItem(30_000, 0, null, DEFAULT), await a.fetchWorkItem(30_000, 0, null, DEFAULT));
  expect(spy.count("fetchWorkItem")).toBe(3);
  expect(got.map(activityId)).toEqual([1, 2, 3, 4, 5, 6]);
  expect(got.map((w) => w?.attemptCount)).toEqual([1, 1, 1, 1, 1, 1]);
  // Real locks: every ack commits.
  for (const w of got) await a.ackWorkItem(w!.lockToken, null);
  expect(await b.fetchWorkItem(30_000, 0, null, DEFAULT)).toBeNull();
});

pgTest("what a worker fetch claims ahead keeps to its tag filter, and stops at the first session item the fetches could take: held items come in the order a fetch sees", async () => {
  const schema = freshSchema();
  const a = await connect(schema);
  const b = await connect(schema);
  await busyFetches(a, "fa-2-warm", 3);
  await a.enqueueForWorker(activityItem("fa-2", 1, { sessionId: "s-1" }));
  await a.enqueueForWorker(activityItem("fa-2", 2, { tag: "gpu" }));
  await a.enqueueForWorker(activityItem("fa-2", 3));
  await a.enqueueForWorker(activityItem("fa-2", 4, { sessionId: "s-2" }));
  await a.enqueueForWorker(activityItem("fa-2", 5));
  const session = { owner_id: "a", lock_timeout: 30_000 };
  // The fetch itself takes the session item; ahead: 3 only (2 is tagged, 4 a session item A's next fetch would take before 5).
  expect(activityId(await a.fetchWorkItem(30_000, 0, session, DEFAULT))).toBe(1);
  expect(held(a).size).toBe(1);
  expect(activityId(await b.fetchWorkItem(30_000, 0, null, TagFilter.tags("gpu")))).toBe(2);
  expect(activityId(await b.fetchWorkItem(30_000, 0, null, DEFAULT))).toBe(5);
  expect(await b.fetchWorkItem(30_000, 0, null, DEFAULT)).toBeNull();
  const spy = spyQueries(a);
  expect(activityId(await a.fetchWorkItem(30_000, 0, session, DEFAULT))).toBe(3);
  expect(spy.count("fetchWorkItem")).toBe(0);
  expect(activityId(await a.fetchWorkItem(30_000, 0, session, DEFAULT))).toBe(4);
});

pgTest("a fetch of another filter in the same process keeps fetches from claiming ahead for a minute: what is held for one filter, the other would not see", async () => {
  const schema = freshSchema();
  const a = await connect(schema);
  await busyFetches(a, "fa-6-warm", 3);
  await a.enqueueForWorker(activityItem("fa-6", 1, { tag: "gpu" }));
  expect(activityId(await a.fetchWorkItem(30_000, 0, null, TagFilter.any()))).toBe(1);
  for (let i = 2; i <= 4; i++) await a.enqueueForWorker(activityItem("fa-6", i));
  const spy = spyQueries(a);
  expect(activityId(await a.fetchWorkItem(30_000, 0, null, DEFAULT))).toBe(2);
  expect(held(a).size).toBe(0);
  // The Any fetch sees the rest.
  expect(activityId(await a.fetchWorkItem(30_000, 0, null, TagFilter.any()))).toBe(3);
  expect(spy.count("fetchWorkItem")).toBe(2);
});

for (const [how, parkedSession, claimingSession] of [
  ["of the same group", null, null],
  ["with another session owner (another runtime slot: a group of its own)", { owner_id: "slot-2", lock_timeout: 30_000 }, { owner_id: "slot-1", lock_timeout: 30_000 }],
] as const) {
  pgTest(`a fetch of this process parked while another one claims ahead is woken and takes a claimed item without a round trip: ${how}`, async () => {
    const schema = freshSchema();
    const a = await connect(schema);
    await busyFetches(a, "fa-3-warm", 2);
    const spy = spyQueries(a);
    const parked = a.fetchWorkItem(30_000, 20_000, parkedSession, DEFAULT);
    await spy.settled("fetchWorkItem"); // looked, found nothing, parks (the fallback poll is a minute away)
    // Work that nobody announces: only the other fetch's claim can make the parked one look.
    await insertUnannounced(schema, "fa-3", [1, 2]);
    const first = await a.fetchWorkItem(30_000, 0, claimingSession, DEFAULT);
    expect(activityId(first)).toBe(1);
    const second = await within("the parked fetch", parked, 10_000);
    expect(activityId(second)).toBe(2);
    expect(spy.count("fetchWorkItem")).toBe(2); // the parked fetch's first look and the claiming fetch
  });
}

pgTest("a fetch whose look found nothing because another fetch of this process claimed ahead meanwhile takes a held item instead of sleeping beside it", async () => {
  const schema = freshSchema();
  const a = await connect(schema);
  // Demand enough for both fetches below to claim ahead (the first reserves its room while it looks).
  await busyFetches(a, "fa-7-warm", 6);
  // The first fetch's look is answered only once the gate opens (it found nothing: the queue is empty then).
  type Call = (op: string, text: string, params: unknown[]) => Promise<unknown[]>;
  const target = a as unknown as { call: Call };
  const original = target.call.bind(a);
  let open!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  let looked!: () => void;
  const lookDone = new Promise<void>((r) => (looked = r));
  let gated = true;
  let afterGate = 0;
  target.call = async (op, text, params) => {
    if (op === "fetchWorkItem" && !gated) afterGate++;
    const r = await original(op, text, params);
    if (op === "fetchWorkItem" && gated) {
      gated = false;
      looked();
      await gate;
    }
    return r;
  };
  const slow = a.fetchWorkItem(30_000, 20_000, { owner_id: "slot-2", lock_timeout: 30_000 }, DEFAULT);
  await lookDone;
  // Work nobody announces, then the other slot's fetch claims it all: one for itself, one ahead.
  await insertUnannounced(schema, "fa-7", [1, 2]);
  expect(activityId(await a.fetchWorkItem(30_000, 0, { owner_id: "slot-1", lock_timeout: 30_000 }, DEFAULT))).toBe(1);
  expect(held(a).size).toBe(1);
  afterGate = 0;
  open();
  // The slow fetch's look said "nothing"; the item held for it is there: it takes it, well within its hold.
  const got = await within("the fetch whose look raced the claim", slow, 5_000);
  expect(activityId(got)).toBe(2);
  expect(afterGate).toBe(0); // taken from what was held, not given back and fetched again
  expect(held(a).size).toBe(0);
});

pgTest("close() while a worker fetch claiming ahead is still waiting: what it claims ahead is given back when it lands, not left locked", async () => {
  const schema = freshSchema();
  const a = await connect(schema);
  const b = await connect(schema);
  await busyFetches(a, "fa-4-warm", 3);
  for (let i = 1; i <= 3; i++) await b.enqueueForWorker(activityItem("fa-4", i));
  // The fetch waits on a table lock, before it claims anything.
  const locker = new SQL(pg.url!, { max: 1 });
  const conn = await locker.reserve();
  await conn.unsafe("BEGIN");
  await conn.unsafe(`LOCK TABLE "${schema}".worker_queue IN EXCLUSIVE MODE`);
  const spy = spyQueries(a);
  const fetching = a.fetchWorkItem(30_000, 0, null, DEFAULT);
  const watcher = new SQL(pg.url!, { max: 1 });
  try {
    const deadline = performance.now() + 10_000;
    for (;;) {
      const [r] = await watcher.unsafe(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND position($1 in query) > 0`, [`"${schema}".fetch_work_ahead`]);
      if (r.n > 0) break;
      if (performance.now() > deadline) throw new Error("the fetch claiming ahead never waited on the lock");
      await Bun.sleep(5);
    }
  } finally {
    await watcher.close();
  }
  const closing = a.close();
  await conn.unsafe("ROLLBACK");
  conn.release();
  await locker.close();
  await closing;
  // The fetch itself got its item (it was asked before close); the items claimed ahead went back.
  const own = await fetching.catch(() => null);
  expect(spy.count("fetchWorkItem")).toBe(1);
  const rest = [await b.fetchWorkItem(30_000, 0, null, DEFAULT), await b.fetchWorkItem(30_000, 0, null, DEFAULT), await b.fetchWorkItem(30_000, 0, null, DEFAULT)];
  const ids = [own, ...rest].filter((w) => w !== null).map(activityId);
  expect(ids.sort()).toEqual([1, 2, 3]);
  expect(rest.filter((w) => w !== null).every((w) => w!.attemptCount === 1)).toBe(true);
});

pgTest("workerClaimAhead: 0: a worker fetch takes one item per round trip", async () => {
  const schema = freshSchema();
  const a = await connect(schema, { workerClaimAhead: 0 });
  const b = await connect(schema);
  for (let i = 1; i <= 4; i++) await a.enqueueForWorker(activityItem("fa-5", i));
  const spy = spyQueries(a);
  for (let i = 0; i < 3; i++) expect(await a.fetchWorkItem(30_000, 0, null, DEFAULT)).not.toBeNull();
  expect(spy.count("fetchWorkItem")).toBe(3);
  expect(activityId(await b.fetchWorkItem(30_000, 0, null, DEFAULT))).toBe(4);
});
