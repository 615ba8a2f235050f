// PostgresProvider's group commit on a real server: worker acks issued in one tick go to
// ack_work_many together, and durable writes (turn acks, enqueues) issued in one tick share one
// transaction. Each caller still gets its own outcome: an ack whose lock is gone fails alone with
// LockLost, and everything else of its batch commits exactly once. Every case also checks (by
// counting the calls of the batch senders) that its requests really did share a batch, so that a
// pass means "isolated inside a batch", not "never batched".
import { afterAll, describe, expect, test } from "bun:test";
import { SQL } from "bun";
import { ProviderError } from "../../src/core/errors.ts";
import type { Event } from "../../src/core/events.ts";
import type { FetchedWorkItem } from "../../src/core/queue-types.ts";
import type { WorkItem } from "../../src/core/work-items.ts";
import {
  activityCompletedItem,
  activityItem,
  activityScheduledEvent,
  createRunningInstance,
  externalRaisedItem,
  fetchOrch,
  fetchWork,
  runningMeta,
  startItem,
  startedEvent,
  tryFetchWork,
} from "../../src/provider-tests/helpers.ts";
import { PostgresProvider } from "../../src/providers/postgres.ts";
import { postgresForTests } from "./postgres-server.ts";

const pg = await postgresForTests();
const schemas: string[] = [];
const opened: PostgresProvider[] = [];
let admin: SQL | null = null;

async function fresh(): Promise<PostgresProvider> {
  const schema = `test_${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`;
  schemas.push(schema);
  const p = await PostgresProvider.connect(pg.url!, { poolMax: 4, schema });
  opened.push(p);
  return p;
}

/** Rows of the provider's schema, read on a connection of the test's own. */
function rows<T = Record<string, unknown>>(p: PostgresProvider, query: string, params: unknown[] = []): Promise<T[]> {
  admin ??= new SQL(pg.url!, { max: 1 });
  return admin.unsafe(query.replaceAll("__S__", `"${p.schema}"`), params) as Promise<T[]>;
}

afterAll(async () => {
  if (pg.url === null) return;
  await Promise.all(opened.map((p) => p.close()));
  await admin?.close({ timeout: 1 });
  for (const s of schemas) await PostgresProvider.dropSchema(pg.url, s);
});

/**
 * Records the size of every batch the provider hands to one of its batch senders (sendWorkAcks:
 * one ack_work_many call; sendWrites: one transaction, or one write alone). The Batchers call the
 * sender through `this`, so an own property in front of the prototype's method sees every batch.
 */
function batchSizes(p: PostgresProvider, sender: "sendWorkAcks" | "sendWrites"): number[] {
  const sizes: number[] = [];
  const target = p as unknown as Record<string, (batch: unknown[]) => Promise<unknown>>;
  const original = target[sender]!;
  expect(typeof original).toBe("function");
  target[sender] = function (this: unknown, batch: unknown[]) {
    sizes.push(batch.length);
    return original.call(p, batch);
  };
  return sizes;
}

/**
 * The outcome of each promise: "ok", or the kind of the ProviderError it rejected with ("+retryable"
 * appended when the error says it is), or what else it rejected with.
 */
async function outcomes(promises: Promise<unknown>[]): Promise<string[]> {
  return (await Promise.allSettled(promises)).map((s) => {
    if (s.status === "fulfilled") return "ok";
    const e = s.reason as unknown;
    return e instanceof ProviderError ? `${e.kind}${e.retryable ? "+retryable" : ""}` : `not a ProviderError: ${String(e)}`;
  });
}

/** The op of every single-statement call the provider makes (writes that run alone go through it; a batch transaction does not). */
function singleCalls(p: PostgresProvider): string[] {
  const ops: string[] = [];
  const target = p as unknown as Record<string, (op: string, text: string, params: unknown[]) => Promise<unknown>>;
  const original = target.call!;
  expect(typeof original).toBe("function");
  target.call = function (this: unknown, op: string, text: string, params: unknown[]) {
    ops.push(op);
    return original.call(p, op, text, params);
  };
  return ops;
}

const activityIds = (messages: WorkItem[]) => messages.map((m) => (m.type === "ActivityCompleted" ? m.id : `${m.type}?`));

if (pg.url === null) {
  test.skip(`PostgresProvider group commit [skipped: ${pg.reason}]`, () => {});
} else {
  describe("PostgresProvider group commit: worker acks", () => {
    test("acks of one tick go in one ack_work_many call; a bogus and a stale token fail alone with LockLost, the rest commit", async () => {
      const p = await fresh();
      const inst = "gc-acks";
      await createRunningInstance(p, inst, { workerItems: [1, 2, 3, 4, 5].map((id) => activityItem(inst, id)) });
      const work: FetchedWorkItem[] = [];
      for (let i = 0; i < 5; i++) work.push(await fetchWork(p, 30_000));
      expect(work.map((w) => (w.item.type === "ActivityExecute" ? w.item.id : 0))).toEqual([1, 2, 3, 4, 5]);
      const [w1, w2, w3, w4, w5] = work as [FetchedWorkItem, FetchedWorkItem, FetchedWorkItem, FetchedWorkItem, FetchedWorkItem];
      await p.abandonWorkItem(w5.lockToken, null, false); // w5's token is stale from now on

      const sizes = batchSizes(p, "sendWorkAcks");
      const results = await outcomes([
        p.ackWorkItem(w1.lockToken, activityCompletedItem(inst, 1, "r1")),
        p.ackWorkItem("999999999.not-a-lock", activityCompletedItem(inst, 42, "bogus")),
        p.ackWorkItem(w2.lockToken, activityCompletedItem(inst, 2, "r2")),
        p.ackWorkItem(w3.lockToken, activityCompletedItem(inst, 3, "r3")),
        p.ackWorkItem(w4.lockToken, null), // acked without a completion
        p.ackWorkItem(w5.lockToken, activityCompletedItem(inst, 5, "stale")),
      ]);
      expect(results).toEqual(["ok", "LockLost", "ok", "ok", "ok", "LockLost"]);
      expect(sizes).toEqual([6]); // one call for all six

      // The three completions are in the orchestrator queue, in the order acked; nothing of the failed two.
      const turn = await fetchOrch(p, 30_000);
      expect(turn.item.instance).toBe(inst);
      expect(activityIds(turn.item.messages)).toEqual([1, 2, 3]);
      expect(turn.item.messages.map((m) => (m.type === "ActivityCompleted" ? m.result : null))).toEqual(["r1", "r2", "r3"]);
      // The acked items are gone from the worker queue; the abandoned one is back and still ackable.
      const again = await fetchWork(p, 30_000);
      expect(again.item.type === "ActivityExecute" && again.item.id).toBe(5);
      expect(await tryFetchWork(p, 30_000)).toBeNull();
      await p.ackWorkItem(again.lockToken, null);
      expect(sizes).toEqual([6, 1]);
    });

    test("completions acked in one tick are enqueued in the order they were acked, not the order of the worker queue", async () => {
      const p = await fresh();
      const inst = "gc-order";
      await createRunningInstance(p, inst, { workerItems: [1, 2, 3, 4].map((id) => activityItem(inst, id)) });
      const work: FetchedWorkItem[] = [];
      for (let i = 0; i < 4; i++) work.push(await fetchWork(p, 30_000));
      const byId = (id: number) => work.find((w) => w.item.type === "ActivityExecute" && w.item.id === id)!;
      const sizes = batchSizes(p, "sendWorkAcks");
      const results = await outcomes([3, 1, 4, 2].map((id) => p.ackWorkItem(byId(id).lockToken, activityCompletedItem(inst, id, `r${id}`))));
      expect(results).toEqual(["ok", "ok", "ok", "ok"]);
      expect(sizes).toEqual([4]);
      const turn = await fetchOrch(p, 30_000);
      expect(activityIds(turn.item.messages)).toEqual([3, 1, 4, 2]);
    });

    test("the same token acked twice in one tick: exactly one ack commits, the other fails LockLost, one completion is enqueued", async () => {
      const p = await fresh();
      const inst = "gc-twice";
      await createRunningInstance(p, inst, { workerItems: [activityItem(inst, 1)] });
      const w = await fetchWork(p, 30_000);
      const sizes = batchSizes(p, "sendWorkAcks");
      const results = await outcomes([
        p.ackWorkItem(w.lockToken, activityCompletedItem(inst, 1, "first")),
        p.ackWorkItem(w.lockToken, activityCompletedItem(inst, 1, "second")),
      ]);
      expect(sizes).toEqual([2]);
      expect(results.toSorted()).toEqual(["LockLost", "ok"]);
      const queued = await rows<{ work_item: string }>(p, `SELECT work_item FROM __S__.orchestrator_queue WHERE instance_id = $1 AND kind = 'ActivityCompleted'`, [inst]);
      expect(queued.length).toBe(1);
      expect(await rows(p, `SELECT 1 FROM __S__.worker_queue`)).toEqual([]);
    });
  });

  describe("PostgresProvider group commit: durable writes", () => {
    /** A turn that schedules activity 2: history event 2 and one worker item. */
    const scheduleActivity = (p: PostgresProvider, token: string, inst: string) =>
      p.ackOrchestrationItem(token, 1, [activityScheduledEvent(inst, 1, 2)], [activityItem(inst, 2)], [], runningMeta(), []);
    const eventTypes = (events: Event[]) => events.map((e) => e.type);

    test("turn acks of one tick share a transaction; an abandoned and an already-acked token fail LockLost, the others (and enqueues of the batch) commit once", async () => {
      const p = await fresh();
      const [a, b, c, d] = ["gc-a", "gc-b", "gc-c", "gc-d"];
      for (const inst of [a, b, c, d]) await createRunningInstance(p, inst);
      for (const inst of [a, b, c, d]) await p.enqueueForOrchestrator(externalRaisedItem(inst, "go"), null);
      const tokens = new Map<string, string>();
      for (let i = 0; i < 4; i++) {
        const f = await fetchOrch(p, 30_000);
        tokens.set(f.item.instance, f.lockToken);
      }
      expect([...tokens.keys()].toSorted()).toEqual([a, b, c, d]);
      await p.abandonOrchestrationItem(tokens.get(b)!, null, false); // b's token is stale
      await p.ackOrchestrationItem(tokens.get(d)!, 1, [], [], [], runningMeta(), []); // d's token is used up

      const sizes = batchSizes(p, "sendWrites");
      const alone = singleCalls(p);
      const results = await outcomes([
        scheduleActivity(p, tokens.get(a)!, a),
        scheduleActivity(p, tokens.get(b)!, b),
        p.enqueueForOrchestrator(externalRaisedItem(a, "later"), null),
        scheduleActivity(p, tokens.get(c)!, c),
        p.enqueueForWorker(activityItem(c, 9)),
        scheduleActivity(p, tokens.get(d)!, d),
      ]);
      expect(results).toEqual(["ok", "LockLost", "ok", "ok", "ok", "LockLost"]);
      expect(sizes).toEqual([6]); // all six went as one batch...
      // ...which rolled back, and each write then ran alone, once.
      expect(alone.toSorted()).toEqual([
        ...Array(4).fill("ackOrchestrationItem"),
        "enqueueForOrchestrator",
        "enqueueForWorker",
      ]);

      // History: the committed turns appended event 2, the failed ones nothing.
      expect(eventTypes(await p.read(a))).toEqual(["OrchestrationStarted", "ActivityScheduled"]);
      expect(eventTypes(await p.read(c))).toEqual(["OrchestrationStarted", "ActivityScheduled"]);
      expect(eventTypes(await p.read(b))).toEqual(["OrchestrationStarted"]);
      expect(eventTypes(await p.read(d))).toEqual(["OrchestrationStarted"]);
      // Each committed write is there exactly once (the rolled-back batch left nothing behind).
      const workers = await rows<{ instance_id: string; activity_id: string }>(
        p,
        `SELECT instance_id, activity_id::text FROM __S__.worker_queue ORDER BY instance_id, activity_id`,
      );
      expect(workers.map((r) => `${r.instance_id}:${r.activity_id}`)).toEqual([`${a}:2`, `${c}:2`, `${c}:9`]);
      const orch = await rows<{ instance_id: string; kind: string }>(p, `SELECT instance_id, kind FROM __S__.orchestrator_queue ORDER BY id`);
      expect(orch.map((r) => `${r.instance_id}:${r.kind}`).toSorted()).toEqual([`${a}:ExternalRaised`, `${b}:ExternalRaised`]);
      // The locks of the committed turns were released, and b's message (its turn failed) is fetchable again.
      expect(await rows(p, `SELECT instance_id FROM __S__.instance_locks`)).toEqual([]);
      const next = new Map<string, WorkItem[]>();
      for (let i = 0; i < 2; i++) {
        const f = await fetchOrch(p, 30_000);
        next.set(f.item.instance, f.item.messages);
      }
      expect(next.get(b)?.map((m) => m.type === "ExternalRaised" && m.name)).toEqual(["go"]);
      expect(next.get(a)?.map((m) => m.type === "ExternalRaised" && m.name)).toEqual(["later"]);
    });

    test("a batch in which every write succeeds commits in one transaction: no write runs alone", async () => {
      const p = await fresh();
      const insts = ["gc-ok-1", "gc-ok-2", "gc-ok-3"];
      for (const inst of insts) await p.enqueueForOrchestrator(startItem(inst), null);
      const turns = [];
      for (let i = 0; i < 3; i++) turns.push(await fetchOrch(p, 30_000));
      const sizes = batchSizes(p, "sendWrites");
      const alone = singleCalls(p);
      const results = await outcomes(
        turns.map((t) => {
          const inst = t.item.instance;
          return p.ackOrchestrationItem(t.lockToken, 1, [startedEvent(inst), activityScheduledEvent(inst, 1, 2)], [activityItem(inst, 2)], [], runningMeta(), []);
        }),
      );
      expect(results).toEqual(["ok", "ok", "ok"]);
      expect(sizes).toEqual([3]);
      expect(alone).toEqual([]); // committed as a batch: nothing re-ran alone
      for (const inst of insts) expect(eventTypes(await p.read(inst))).toEqual(["OrchestrationStarted", "ActivityScheduled"]);
      const workers = await rows<{ n: number }>(p, `SELECT count(*)::int AS n FROM __S__.worker_queue`);
      expect(workers[0]!.n).toBe(3);
    });

    test("enqueueForOrchestrator calls of one tick share one batch and land in the order they were made", async () => {
      const p = await fresh();
      const sizes = batchSizes(p, "sendWrites");
      const names = ["e0", "e1", "e2", "e3", "e4", "e5"];
      await Promise.all([
        p.enqueueForOrchestrator(startItem("gc-order"), null),
        ...names.map((n) => p.enqueueForOrchestrator(externalRaisedItem("gc-order", n), null)),
        p.enqueueForOrchestrator(startItem("gc-other"), null),
      ]);
      expect(sizes).toEqual([8]);
      const got = new Map<string, WorkItem[]>();
      for (let i = 0; i < 2; i++) {
        const f = await fetchOrch(p, 30_000);
        got.set(f.item.instance, f.item.messages);
      }
      expect(got.get("gc-order")!.map((m) => (m.type === "ExternalRaised" ? m.name : m.type))).toEqual(["StartOrchestration", ...names]);
      expect(got.get("gc-other")!.map((m) => m.type)).toEqual(["StartOrchestration"]);
    });

    test("when a batch rolls back, its writes re-run alone in the order they were made (the survivors keep their order)", async () => {
      const p = await fresh();
      const sizes = batchSizes(p, "sendWrites");
      const names = ["e0", "e1", "e2", "e3", "e4", "e5", "e6", "e7"];
      const all = await outcomes([
        p.ackOrchestrationItem("no-such-token", 1, [], [], [], runningMeta(), []),
        p.enqueueForOrchestrator(startItem("gc-rerun"), null),
        ...names.map((n) => p.enqueueForOrchestrator(externalRaisedItem("gc-rerun", n), null)),
      ]);
      expect(all).toEqual(["LockLost", ...Array(1 + names.length).fill("ok")]);
      // One batch of 10 (it rolled back; its writes then ran alone, outside the batcher).
      expect(sizes).toEqual([10]);
      const f = await fetchOrch(p, 30_000);
      expect(f.item.messages.map((m) => (m.type === "ExternalRaised" ? m.name : m.type))).toEqual(["StartOrchestration", ...names]);
    });
  });
}
