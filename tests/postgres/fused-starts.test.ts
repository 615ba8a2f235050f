// A start committed with its first turn (docs/provider-contract.md §16.4; src/providers/postgres/fused-starts.ts).
// A StartOrchestration enqueued while an orchestrator fetch of the same provider is idle is handed to
// that fetch without a write; the turn's ack writes the start's effects and the turn in one
// transaction, and only then is the enqueue's caller answered. Whenever that cannot be done (the
// instance is not new, the lock lapses, the batch is abandoned, the provider closes) the start goes
// through the queue instead: never lost, never applied twice.
import { expect } from "bun:test";
import { TagFilter } from "../../src/core/queue-types.ts";
import { activityItem, activityScheduledEvent, externalRaisedItem, runningMeta, startItem, startedEvent } from "../../src/provider-tests/helpers.ts";
import { postgresForTests } from "../providers/postgres-server.ts";
import { busy, fusedStartKit, handedStart, outcome, parked, parkedOrch, queued } from "./fused-start-kit.ts";
import { freshSchema, spyQueries, state, within } from "./helpers.ts";

const pg = await postgresForTests();
const { connect, pgTest } = fusedStartKit(pg);

pgTest("a start handed to an idle fetch is written only by its first turn's ack, in one transaction: the caller is answered after that commit", async () => {
  const p = await connect();
  const spy = spyQueries(p);
  const fetched = p.fetchOrchestrationItem(30_000, 20_000);
  await parkedOrch(p);
  const idleWorker = p.fetchWorkItem(30_000, 20_000, null, TagFilter.defaultOnly());
  await parked(p, 1, "parkedWork");
  const started = p.enqueueForOrchestrator(startItem("f-one"), null);
  const f = await within("the parked orchestrator fetch", fetched, 5_000);
  expect(f?.item.instance).toBe("f-one");
  expect(f?.item.messages.map((m) => m.type)).toEqual(["StartOrchestration"]);
  expect(f?.item.history).toEqual([]);
  expect(f?.attemptCount).toBe(1);
  // Nothing was written: no queue row, and the caller still waits.
  expect(await queued(p, "f-one")).toEqual([]);
  expect(await state(started)).toBe("pending");
  // Another fetch sees nothing to take meanwhile.
  expect(await p.fetchOrchestrationItem(30_000, 0)).toBeNull();
  const writesBefore = spy.records.length;
  await p.ackOrchestrationItem(f!.lockToken, 1, [startedEvent("f-one"), activityScheduledEvent("f-one", 1, 2)], [activityItem("f-one", 2)], [], runningMeta(), []);
  await within("the start's caller", started, 5_000);
  // One statement did it (start_ack_orch), and it handed the activity to the idle worker fetch.
  expect(spy.records.length - writesBefore).toBe(1);
  const w = await within("the idle worker fetch", idleWorker, 5_000);
  expect(w?.item.type === "ActivityExecute" && w.item.id).toBe(2);
  expect((await p.read("f-one")).map((e) => e.type)).toEqual(["OrchestrationStarted", "ActivityScheduled"]);
  expect(await queued(p, "f-one")).toEqual([]);
  expect((await p.asManagementCapability()!.getInstanceInfo("f-one")).status).toBe("Running");
});

pgTest("an event raised before the start and already put back by a fetch (not visible) stays queued for a later turn, as a fetch would leave it: the start still commits with its first turn", async () => {
  const p = await connect();
  // An event raised before the start: the fetch below meets it first and puts it back for a second.
  await p.enqueueForOrchestrator(externalRaisedItem("f-early"), null);
  const { f, started } = await handedStart(p, "f-early");
  expect(f?.item.messages.map((m) => m.type)).toEqual(["StartOrchestration"]);
  expect(await state(started)).toBe("pending");
  await p.ackOrchestrationItem(f!.lockToken, 1, [startedEvent("f-early")], [], [], runningMeta(), []);
  await within("the start's caller", started, 5_000);
  expect((await p.read("f-early")).map((e) => e.type)).toEqual(["OrchestrationStarted"]);
  expect(await queued(p, "f-early")).toEqual(["ExternalRaised"]);
});

pgTest("an event that is visible when the first turn acks (it committed before the start) belongs in the start's batch: the start goes through the queue, the turn's ack fails LockLost, and a fetch takes both", async () => {
  const schema = freshSchema();
  const p = await connect(schema);
  const other = await connect(schema); // another process: no fetch of its own is parked
  const { f, started } = await handedStart(p, "f-raced");
  expect(f?.item.messages.map((m) => m.type)).toEqual(["StartOrchestration"]);
  await other.enqueueForOrchestrator(externalRaisedItem("f-raced"), null);
  const ack = p.ackOrchestrationItem(f!.lockToken, 1, [startedEvent("f-raced")], [], [], runningMeta(), []);
  expect(await outcome(ack)).toBe("LockLost");
  await within("the start's caller", started, 5_000);
  expect(await p.read("f-raced")).toEqual([]);
  expect((await queued(p, "f-raced")).sort()).toEqual(["ExternalRaised", "StartOrchestration"]);
  const g = await p.fetchOrchestrationItem(30_000, 0);
  expect(g?.item.messages.map((m) => m.type).sort()).toEqual(["ExternalRaised", "StartOrchestration"]);
  expect(g?.item.history).toEqual([]);
});

pgTest("a second start of an instance that already started goes through the queue: the caller is answered, the turn's ack fails LockLost, nothing of that turn is written", async () => {
  const p = await connect();
  await p.enqueueForOrchestrator(startItem("f-again"), null);
  const first = await p.fetchOrchestrationItem(30_000, 0);
  await p.ackOrchestrationItem(first!.lockToken, 1, [startedEvent("f-again")], [], [], runningMeta(), []);
  const { f: f2, started: second } = await handedStart(p, "f-again");
  expect(f2?.item.messages.map((m) => m.type)).toEqual(["StartOrchestration"]);
  expect(f2?.item.history).toEqual([]);
  const ack2 = p.ackOrchestrationItem(f2!.lockToken, 1, [startedEvent("f-again", 1, { input: "second" })], [], [], runningMeta(), []);
  expect(await outcome(ack2)).toBe("LockLost");
  await within("the second start's caller", second, 5_000);
  expect((await p.read("f-again")).map((e) => e.type)).toEqual(["OrchestrationStarted"]);
  expect(await queued(p, "f-again")).toEqual(["StartOrchestration"]);
  const g = await p.fetchOrchestrationItem(30_000, 0);
  expect(g?.item.history.map((e) => e.type)).toEqual(["OrchestrationStarted"]);
});

pgTest("a held start's lock is the fetch's lock: renewals extend it; once it lapses the start goes through the queue, and the late ack and renewal fail LockLost", async () => {
  const p = await connect();
  const { f, started } = await handedStart(p, "f-lapse", 400);
  // Renewed past the first 400 ms: still held, nothing queued.
  await Bun.sleep(250);
  await p.renewOrchestrationItemLock(f!.lockToken, 400);
  await Bun.sleep(250);
  expect(await queued(p, "f-lapse")).toEqual([]);
  expect(await state(started)).toBe("pending");
  // Not renewed again: it lapses, the start is queued and its caller answered.
  await within("the start's caller", started, 5_000);
  expect(await queued(p, "f-lapse")).toEqual(["StartOrchestration"]);
  expect(await outcome(p.renewOrchestrationItemLock(f!.lockToken, 400))).toBe("LockLost");
  const late = p.ackOrchestrationItem(f!.lockToken, 1, [startedEvent("f-lapse")], [], [], runningMeta(), []);
  expect(await outcome(late)).toBe("LockLost");
  expect(await p.read("f-lapse")).toEqual([]);
  // A fetch delivers it, its attempt counted once.
  const again = await p.fetchOrchestrationItem(30_000, 0);
  expect(again?.item.instance).toBe("f-lapse");
  expect(again?.attemptCount).toBe(2);
});

pgTest("a start whose turn does not ack within the hold is written alone, already claimed under the fetch's token: its caller is answered (even one that awaits it before acking), and the ack is then an ordinary one", async () => {
  const p = await connect(undefined, 100);
  const fetched = p.fetchOrchestrationItem(30_000, 20_000);
  await parkedOrch(p);
  // The caller awaits the enqueue before it acks what its fetch got: the hold must not make it wait for itself.
  await within("the start's caller", p.enqueueForOrchestrator(startItem("f-alone"), null), 5_000);
  const f = await within("the parked fetch", fetched, 5_000);
  expect(f?.item.messages.map((m) => m.type)).toEqual(["StartOrchestration"]);
  // Written and claimed: the queue row is there, locked, so another fetch takes nothing.
  expect(await queued(p, "f-alone")).toEqual(["StartOrchestration"]);
  expect(await p.fetchOrchestrationItem(30_000, 0)).toBeNull();
  await p.renewOrchestrationItemLock(f!.lockToken, 30_000);
  await p.ackOrchestrationItem(f!.lockToken, 1, [startedEvent("f-alone")], [], [], runningMeta(), []);
  expect((await p.read("f-alone")).map((e) => e.type)).toEqual(["OrchestrationStarted"]);
  expect(await queued(p, "f-alone")).toEqual([]);
  // Written alone for an instance that is not new, the start is a plain enqueue and the turn's ack fails.
  const next = p.fetchOrchestrationItem(30_000, 20_000);
  await parkedOrch(p);
  await within("the second start's caller", p.enqueueForOrchestrator(startItem("f-alone"), null), 5_000);
  const g = await within("the parked fetch", next, 5_000);
  const ack = p.ackOrchestrationItem(g!.lockToken, 1, [startedEvent("f-alone")], [], [], runningMeta(), []);
  expect(await outcome(ack)).toBe("LockLost");
  expect((await p.read("f-alone")).map((e) => e.type)).toEqual(["OrchestrationStarted"]);
  expect(await queued(p, "f-alone")).toEqual(["StartOrchestration"]);
});

pgTest("a turn whose ack comes after the held start's lock lapsed (a turn that outran it) fails LockLost even though no timer ran: the start is queued once", async () => {
  const p = await connect();
  const { f, started } = await handedStart(p, "f-outran", 200);
  // Block the event loop past the lock, as a turn's synchronous code would; the ack follows at once.
  busy(300);
  const ack = p.ackOrchestrationItem(f!.lockToken, 1, [startedEvent("f-outran")], [], [], runningMeta(), []);
  expect(await outcome(ack)).toBe("LockLost");
  await within("the start's caller", started, 5_000);
  expect(await p.read("f-outran")).toEqual([]);
  expect(await queued(p, "f-outran")).toEqual(["StartOrchestration"]);
});

pgTest("an abandoned start is queued with the abandon's delay; an aborted fetch that was handed a start gives it back to the queue for another fetch", async () => {
  const p = await connect();
  let fetched = p.fetchOrchestrationItem(30_000, 20_000);
  await parkedOrch(p);
  const started = p.enqueueForOrchestrator(startItem("f-abandon"), null);
  const f = await within("the parked fetch", fetched, 5_000);
  await p.abandonOrchestrationItem(f!.lockToken, 60_000, false);
  await within("the start's caller", started, 5_000);
  expect(await queued(p, "f-abandon")).toEqual(["StartOrchestration"]);
  expect(await p.fetchOrchestrationItem(30_000, 0)).toBeNull(); // visible in a minute

  // The fetch is aborted while the start is handed to it.
  const ac = new AbortController();
  fetched = p.fetchOrchestrationItem(30_000, 20_000, null, ac.signal);
  await parkedOrch(p);
  const other = p.fetchOrchestrationItem(30_000, 20_000);
  await parkedOrch(p, 2);
  const target = p as unknown as { fusedStarts: { hold: (...a: unknown[]) => unknown } };
  const hold = target.fusedStarts.hold.bind(target.fusedStarts);
  target.fusedStarts.hold = (...a: unknown[]) => {
    ac.abort(); // the fetch is aborted right as the start is handed over
    return hold(...a);
  };
  const second = p.enqueueForOrchestrator(startItem("f-aborted"), null);
  expect(await within("the aborted fetch", fetched, 2_000)).toBeNull();
  await within("the start's caller", second, 5_000);
  const g = await within("the other idle fetch", other, 5_000);
  expect(g?.item.instance).toBe("f-aborted");
  expect(g?.attemptCount).toBe(1);
});

pgTest("close() queues a held start durably before it closes the pool, and answers its caller", async () => {
  const schema = freshSchema();
  const p = await connect(schema);
  const fetched = p.fetchOrchestrationItem(30_000, 20_000);
  await parkedOrch(p);
  const started = p.enqueueForOrchestrator(startItem("f-close"), null);
  await within("the parked fetch", fetched, 5_000);
  await p.close();
  await within("the start's caller", started, 5_000);
  const q = await connect(schema);
  const f = await q.fetchOrchestrationItem(30_000, 0);
  expect(f?.item.instance).toBe("f-close");
  expect(f?.item.messages.map((m) => m.type)).toEqual(["StartOrchestration"]);
});

pgTest("two providers start the same new instance at once, each committing with its own turn: one commits, the other's start goes through the queue; one history", async () => {
  const schema = freshSchema();
  const a = await connect(schema);
  const b = await connect(schema);
  const fa = a.fetchOrchestrationItem(30_000, 20_000);
  const fb = b.fetchOrchestrationItem(30_000, 20_000);
  await parkedOrch(a);
  await parkedOrch(b);
  const sa = a.enqueueForOrchestrator(startItem("f-race"), null);
  const sb = b.enqueueForOrchestrator(startItem("f-race"), null);
  const [ga, gb] = await within("both parked fetches", Promise.all([fa, fb]), 5_000);
  const acks = await Promise.all([
    outcome(a.ackOrchestrationItem(ga!.lockToken, 1, [startedEvent("f-race")], [], [], runningMeta(), [])),
    outcome(b.ackOrchestrationItem(gb!.lockToken, 1, [startedEvent("f-race")], [], [], runningMeta(), [])),
  ]);
  expect(acks.toSorted()).toEqual(["LockLost", "ok"]);
  await within("both callers", Promise.all([sa, sb]), 5_000);
  expect((await a.read("f-race")).map((e) => e.type)).toEqual(["OrchestrationStarted"]);
  expect(await queued(a, "f-race")).toEqual(["StartOrchestration"]);
});
