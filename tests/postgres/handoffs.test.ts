// Wake-ups and hand-offs inside one process (docs/provider-contract.md §16.4). A write that makes work for a
// queue on which a fetch of the same provider is parked claims that work for it in the write's own
// transaction. The fetch then returns without looking at the queue again: the query spy shows
// one look (the empty one before it parked). Every provider here polls as a fallback only once a
// minute, so a fetch that returns within seconds got its work from the write, not from a poll.
import { expect } from "bun:test";
import { SQL } from "bun";
import { TagFilter } from "../../src/core/queue-types.ts";
import { activityCompletedItem, activityItem, activityScheduledEvent, externalRaisedItem, runningMeta, startItem, startedEvent } from "../../src/provider-tests/helpers.ts";
import { PostgresProvider } from "../../src/providers/postgres.ts";
import { postgresForTests } from "../providers/postgres-server.ts";
import { postgresTestKit, spyQueries, within } from "./helpers.ts";

const pg = await postgresForTests();
const { connect, pgTest } = postgresTestKit(pg, { fallbackPollIntervalMs: 60_000, poolMax: 3 });



type Parked = { parkedOrch: { size: number }; parkedWork: { size: number } };

/** Resolves once `n` fetches of the queue are parked (checked every event-loop turn, bounded). */
async function parked(p: PostgresProvider, queue: "parkedOrch" | "parkedWork", n = 1): Promise<void> {
  const deadline = performance.now() + 10_000;
  while ((p as unknown as Parked)[queue].size < n) {
    if (performance.now() > deadline) throw new Error(`${n} ${queue} fetch(es) never parked`);
    await new Promise((r) => setImmediate(r));
  }
}

/** Starts an instance and commits its first turn with `activities` activities scheduled. */
async function startWithActivities(p: PostgresProvider, instance: string, activities: number): Promise<void> {
  await p.enqueueForOrchestrator(startItem(instance), null);
  const f = await p.fetchOrchestrationItem(30_000, 0);
  expect(f?.item.instance).toBe(instance);
  const ids = Array.from({ length: activities }, (_, i) => i + 2);
  await p.ackOrchestrationItem(
    f!.lockToken,
    1,
    [startedEvent(instance), ...ids.map((id) => activityScheduledEvent(instance, 1, id))],
    ids.map((id) => activityItem(instance, id)),
    [],
    runningMeta(),
    [],
  );
}

// (A start handed to an idle fetch is not written at all until its first turn commits: see fused-starts.test.ts.)
pgTest("enqueueForOrchestrator hands its message to an idle fetchOrchestrationItem of the same provider: one look, no second fetch", async () => {
  const p = await connect();
  await startWithActivities(p, "h-enqueue", 0);
  const spy = spyQueries(p);
  const fetched = p.fetchOrchestrationItem(30_000, 20_000);
  await parked(p, "parkedOrch");
  await p.enqueueForOrchestrator(externalRaisedItem("h-enqueue"), null);
  const f = await within("the parked orchestrator fetch", fetched, 5_000);
  expect(f?.item.instance).toBe("h-enqueue");
  expect(f?.item.messages.map((m) => m.type)).toEqual(["ExternalRaised"]);
  expect(f?.item.history.map((e) => e.type)).toEqual(["OrchestrationStarted"]);
  expect(f?.attemptCount).toBe(1);
  expect(spy.count("fetchOrchestrationItem")).toBe(1);
  // The claim is a real lock: the turn commits with it, and another fetch finds nothing meanwhile.
  expect(await p.fetchOrchestrationItem(30_000, 0)).toBeNull();
  await p.ackOrchestrationItem(f!.lockToken, 1, [], [], [], runningMeta(), []);
  expect((await p.read("h-enqueue")).map((e) => e.type)).toEqual(["OrchestrationStarted"]);
});

pgTest("ackWorkItem hands the completion to an idle fetchOrchestrationItem: the batch holds it, history and lock as a fetch would", async () => {
  const p = await connect();
  await startWithActivities(p, "h-complete", 1);
  const w = await p.fetchWorkItem(30_000, 0, null, TagFilter.defaultOnly());
  expect(w?.item.type).toBe("ActivityExecute");
  const spy = spyQueries(p);
  const fetched = p.fetchOrchestrationItem(30_000, 20_000);
  await parked(p, "parkedOrch");
  await p.ackWorkItem(w!.lockToken, activityCompletedItem("h-complete", 2, "r"));
  const f = await within("the parked orchestrator fetch", fetched, 5_000);
  expect(f?.item.instance).toBe("h-complete");
  expect(f?.item.messages.map((m) => m.type)).toEqual(["ActivityCompleted"]);
  expect(f?.item.history.map((e) => e.type)).toEqual(["OrchestrationStarted", "ActivityScheduled"]);
  expect(spy.count("fetchOrchestrationItem")).toBe(1);
  // The lock is held: another fetch finds nothing to claim.
  expect(await p.fetchOrchestrationItem(30_000, 0)).toBeNull();
});

pgTest("ackOrchestrationItem hands its activities to idle fetchWorkItem calls, one each; what is left stays queued for the next fetch", async () => {
  const p = await connect();
  const spy = spyQueries(p);
  const idle = [p.fetchWorkItem(30_000, 20_000, null, TagFilter.defaultOnly()), p.fetchWorkItem(30_000, 20_000, null, TagFilter.defaultOnly())];
  await parked(p, "parkedWork", 2);
  await startWithActivities(p, "h-fanout", 3);
  const got = await within("the parked worker fetches", Promise.all(idle), 5_000);
  const ids = got.map((g) => (g?.item.type === "ActivityExecute" ? g.item.id : null));
  expect(new Set(ids)).toEqual(new Set([2, 3])); // the oldest two, one each
  expect(spy.count("fetchWorkItem")).toBe(2); // each looked once, before parking
  const third = await p.fetchWorkItem(30_000, 0, null, TagFilter.defaultOnly());
  expect(third?.item.type === "ActivityExecute" && third.item.id).toBe(4);
  // The handed claims are real leases: their acks apply.
  for (const g of got) await p.ackWorkItem(g!.lockToken, null);
});

pgTest("a hand-off write that fails (a lost lock) leaves the parked fetch waiting, and it still gets the next work", async () => {
  const p = await connect();
  const fetched = p.fetchWorkItem(30_000, 20_000, null, TagFilter.defaultOnly());
  await parked(p, "parkedWork");
  const ack = p.ackOrchestrationItem("no-such-token", 1, [startedEvent("h-lost")], [activityItem("h-lost", 2)], [], runningMeta(), []);
  await expect(ack).rejects.toMatchObject({ kind: "LockLost" });
  await p.enqueueForWorker(activityItem("h-next", 7));
  const w = await within("the parked worker fetch", fetched, 5_000);
  expect(w?.item.type === "ActivityExecute" && [w.item.instance, w.item.id]).toEqual(["h-next", 7]);
});

pgTest("the hand-off functions commit the write durably: synchronous_commit is what it was, though the claim turns it off for itself", async () => {
  const p = await connect();
  const q = `"${p.schema}"`;
  const sql = new SQL(pg.url!, { max: 1 });
  try {
    const setting = (rows: { s: string }[]) => rows[0]!.s;
    const base = setting(await sql.unsafe(`SELECT current_setting('synchronous_commit') AS s`));
    // A plain claim leaves its transaction asynchronous (that is what the check below guards against).
    const plain = await sql.begin(async (tx) => {
      await tx.unsafe(`SELECT * FROM ${q}.fetch_orch_tail(30000, false, '{0,0,0}', '{0,0,0}', 100)`);
      return setting(await tx.unsafe(`SELECT current_setting('synchronous_commit') AS s`));
    });
    expect(plain).toBe("off");
    const item = JSON.stringify(startItem("h-durable"));
    const claimed = await sql.begin(async (tx) => {
      const r = await tx.unsafe(`SELECT o_token FROM ${q}.enqueue_orch_claim('h-durable', 'StartOrchestration', $1, 0, 30000, false, '{0,0,0}', '{0,0,0}', 100)`, [item]);
      expect(r[0].o_token).not.toBeNull();
      return setting(await tx.unsafe(`SELECT current_setting('synchronous_commit') AS s`));
    });
    expect(claimed).toBe(base);
    const acked = await sql.begin(async (tx) => {
      await tx.unsafe(`SELECT * FROM ${q}.ack_work_many_claim('{}', '{}', '{}', '{}', 30000, false, '{0,0,0}', '{0,0,0}', 100)`);
      return setting(await tx.unsafe(`SELECT current_setting('synchronous_commit') AS s`));
    });
    expect(acked).toBe(base);
  } finally {
    await sql.close();
  }
});

pgTest("a fetch right after an empty look, with nothing announced since, parks without looking; any announcement makes it look", async () => {
  const a = await connect();
  const spy = spyQueries(a);
  const looksSince = (t: number) => spy.records.filter((r) => r.op === "fetchOrchestrationItem" && r.start >= t);
  const t0 = performance.now();
  expect(await a.fetchOrchestrationItem(30_000, 50)).toBeNull();
  expect(looksSince(t0)[0]!.start - t0).toBeLessThan(20); // nothing known yet: it looks at once
  const t1 = performance.now();
  expect(await a.fetchOrchestrationItem(30_000, 50)).toBeNull();
  // It trusted the empty look: its first look came only when its poll ran out (50 ms; timers are coarse).
  expect(looksSince(t1).length).toBeGreaterThanOrEqual(1);
  expect(looksSince(t1)[0]!.start - t1).toBeGreaterThanOrEqual(40);
  // A short poll (poll timeout 0) always looks, once.
  const t2 = performance.now();
  expect(await a.fetchOrchestrationItem(30_000, 0)).toBeNull();
  expect(looksSince(t2).length).toBe(1);
  // Work announced by this provider: the next fetch finds it.
  await a.enqueueForOrchestrator(startItem("s-local"), null);
  expect((await within("a fetch after a local enqueue", a.fetchOrchestrationItem(30_000, 20_000), 5_000))?.item.instance).toBe("s-local");
  // Work announced by another process (NOTIFY): a fetch that trusted an empty look still gets it within seconds.
  expect(await a.fetchOrchestrationItem(30_000, 30)).toBeNull();
  const b = await connect(a.schema);
  const fetched = a.fetchOrchestrationItem(30_000, 20_000);
  await b.enqueueForOrchestrator(startItem("s-remote"), null);
  expect((await within("a fetch after another process's enqueue", fetched, 5_000))?.item.instance).toBe("s-remote");
});

pgTest("close() ends every fetch waiting in a long poll with null at once, not only the first of its group", async () => {
  const p = await connect();
  const a = p.fetchOrchestrationItem(30_000, 15_000);
  await parked(p, "parkedOrch", 1);
  const b = p.fetchOrchestrationItem(30_000, 15_000);
  await parked(p, "parkedOrch", 2);
  await p.close();
  // Not only the first of the group: waking one per group would leave b to its poll timeout (15 s).
  expect(await within("both parked fetches after close()", Promise.all([a, b]), 3_000)).toEqual([null, null]);
});

pgTest("a fetch aborted while a write claims for it returns null at once; the claim is given back (attempt not counted) and another idle fetch of the group is woken for it", async () => {
  const p = await connect();
  await startWithActivities(p, "r-released", 0);
  // Hold the enqueue's write until the fetch has been aborted.
  const target = p as unknown as { write: (op: string, text: string, params: unknown[]) => Promise<unknown> };
  const write = target.write.bind(p);
  let open!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  target.write = async (op, text, params) => {
    await gate;
    return write(op, text, params);
  };
  const ac = new AbortController();
  const first = p.fetchOrchestrationItem(30_000, 15_000, null, ac.signal);
  await parked(p, "parkedOrch", 1);
  const second = p.fetchOrchestrationItem(30_000, 15_000);
  await parked(p, "parkedOrch", 2);
  const enqueued = p.enqueueForOrchestrator(externalRaisedItem("r-released"), null);
  await new Promise((r) => setImmediate(r));
  expect((p as unknown as Parked).parkedOrch.size).toBe(1); // the longest-parked (first) is reserved
  ac.abort();
  expect(await within("the aborted fetch", first, 2_000)).toBeNull();
  open();
  await enqueued;
  target.write = write;
  // The hand-off covered the enqueue (nobody else was woken); giving the claim back is an abandon,
  // which wakes the other idle fetch of the group, well before its poll timeout.
  const f = await within("the other idle fetch of the group", second, 5_000);
  expect(f?.item.instance).toBe("r-released");
  expect(f?.attemptCount).toBe(1);
});

pgTest("a turn's activities handed to several idle worker fetches are locked for each fetch's own lockTimeoutMs", async () => {
  const p = await connect();
  const short = p.fetchWorkItem(1_000, 15_000, null, TagFilter.defaultOnly());
  await parked(p, "parkedWork", 1);
  const long = p.fetchWorkItem(60_000, 15_000, null, TagFilter.defaultOnly());
  await parked(p, "parkedWork", 2);
  await startWithActivities(p, "r-locks", 2);
  const [ws, wl] = await within("the parked worker fetches", Promise.all([short, long]), 5_000);
  expect(ws).not.toBeNull();
  expect(wl).not.toBeNull();
  await p.ackWorkItem(ws!.lockToken, null);
  await Bun.sleep(1_500);
  // `long` asked for a 60 s lock and got it (not the other fetch's 1 s): after `short`'s lock
  // would have run out its item is still locked, and its ack applies.
  expect(await p.fetchWorkItem(60_000, 0, null, TagFilter.defaultOnly())).toBeNull();
  await p.ackWorkItem(wl!.lockToken, null);
});
