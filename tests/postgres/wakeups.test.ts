// Cross-process wake-ups through LISTEN/NOTIFY (docs/provider-contract.md §16.4). Two
// PostgresProvider instances on one schema stand for two processes: each has its own pool, its
// own listening connection and its own in-process wake signals, so B's enqueue can only reach A's
// waiting fetch through the server. Every provider here polls as a fallback only once a minute
// (`fallbackPollIntervalMs: 60000`), so a fetch that returns within seconds was woken by a
// notification; the query spy also shows that the waiting fetch looked at the queue exactly twice
// (before sleeping, and once woken).
import { afterAll, expect } from "bun:test";
import { Client } from "../../src/client.ts";
import { TagFilter } from "../../src/core/queue-types.ts";
import type { ExecutionMetadata } from "../../src/core/queue-types.ts";
import { instanceSignals, type WakeReason } from "../../src/instance-signals.ts";
import { activityItem, startItem } from "../../src/provider-tests/helpers.ts";
import { PostgresProvider } from "../../src/providers/postgres.ts";
import { ActivityRegistry, OrchestrationRegistry } from "../../src/runtime/registry.ts";
import { Runtime } from "../../src/runtime/runtime.ts";
import type { OrchestrationContext } from "../../src/runtime/context.ts";
import { postgresForTests } from "../providers/postgres-server.ts";
import { freshSchema, postgresTestKit, spyQueries, within } from "./helpers.ts";

const pg = await postgresForTests();
const SLOW_POLL = { fallbackPollIntervalMs: 60_000, poolMax: 3 };
const { connect, pgTest } = postgresTestKit(pg, SLOW_POLL);
/** A notification reaches another process within this (generous: a noisy 2-core machine). */
const WAKE_BOUND_MS = 2_000;


/** Two "processes" on one fresh schema. */
async function pair(): Promise<{ a: PostgresProvider; b: PostgresProvider; schema: string }> {
  const schema = freshSchema();
  const a = await connect(schema);
  const b = await connect(schema);
  return { a, b, schema };
}


const figures: string[] = [];
afterAll(() => {
  if (figures.length > 0) console.log(`[wakeups] ${figures.join("; ")}`);
});


pgTest("(a) an idle fetchOrchestrationItem in A returns within 2 s of B's enqueue; so does an idle fetchWorkItem", async () => {
  const { a, b } = await pair();
  const spy = spyQueries(a);

  // Orchestrator queue.
  const fetched = a.fetchOrchestrationItem(30_000, 20_000);
  await spy.settled("fetchOrchestrationItem"); // A looked, found nothing, and sleeps (next poll in 20 s)
  const t0 = performance.now();
  await b.enqueueForOrchestrator(startItem("wake-orch"), null);
  const item = await within("A's orchestrator fetch", fetched, 25_000);
  const orchMs = performance.now() - t0;
  expect(item?.item.instance).toBe("wake-orch");
  expect(orchMs).toBeLessThan(WAKE_BOUND_MS);
  expect(spy.count("fetchOrchestrationItem")).toBe(2); // the empty look, then one look when woken

  // Worker queue.
  const work = a.fetchWorkItem(30_000, 20_000, null, TagFilter.defaultOnly());
  await spy.settled("fetchWorkItem");
  const t1 = performance.now();
  await b.enqueueForWorker(activityItem("wake-work", 1));
  const w = await within("A's worker fetch", work, 25_000);
  const workMs = performance.now() - t1;
  expect(w?.item.type).toBe("ActivityExecute");
  expect(w?.item.type === "ActivityExecute" && w.item.instance).toBe("wake-work");
  expect(workMs).toBeLessThan(WAKE_BOUND_MS);
  expect(spy.count("fetchWorkItem")).toBe(2);
  figures.push(`(a) orchestrator wake ${orchMs.toFixed(1)} ms, worker wake ${workMs.toFixed(1)} ms`);
});

pgTest("(b) a delayed enqueue by B wakes A's waiting fetch when the item becomes visible (>= 1.4 s), not before and not at the poll timeout", async () => {
  const { a, b } = await pair();
  const spy = spyQueries(a);
  const fetched = a.fetchOrchestrationItem(30_000, 20_000);
  await spy.settled("fetchOrchestrationItem");
  const t0 = performance.now();
  await b.enqueueForOrchestrator(startItem("wake-delayed"), 1_500);
  const item = await within("A's fetch of the delayed item", fetched, 25_000);
  const ms = performance.now() - t0;
  expect(item?.item.instance).toBe("wake-delayed");
  expect(ms).toBeGreaterThanOrEqual(1_400);
  expect(ms).toBeLessThan(1_500 + WAKE_BOUND_MS);
  // One empty look, then one at visibility time (the notification carries the delay: no early look).
  expect(spy.count("fetchOrchestrationItem")).toBe(2);
  figures.push(`(b) delayed 1500 ms item fetched after ${ms.toFixed(0)} ms (${spy.count("fetchOrchestrationItem")} looks)`);
});

pgTest(
  "(c) a Client on B (no runtime in its process) returns from waitForOrchestration right after a runtime on A completes the instance: woken by the terminal notification, not by its poll",
  async () => {
    const { a, b } = await pair();
    const orchestrations = OrchestrationRegistry.builder()
      .register("Gate", function* (ctx: OrchestrationContext, n: number) {
        const go = ctx.scheduleWait<number>("go");
        ctx.setCustomStatus("waiting");
        return (yield* go) + n;
      })
      .build();
    // Completion times, taken when A's ack of the completing turn returns (B may hear of the
    // commit a moment before A's call returns: await the time, do not just read it).
    const completedAt = new Map<string, number>();
    const completionWaiters = new Map<string, (at: number) => void>();
    const completion = (instance: string) =>
      completedAt.has(instance) ? Promise.resolve(completedAt.get(instance)!) : new Promise<number>((r) => completionWaiters.set(instance, r));
    const ack = a.ackOrchestrationItem.bind(a);
    a.ackOrchestrationItem = async (token, execId, delta, wItems, oItems, metadata: ExecutionMetadata, cancelled) => {
      await ack(token, execId, delta, wItems, oItems, metadata, cancelled);
      if (metadata.status === "Completed") {
        const done = delta.find((e) => e.type === "OrchestrationCompleted");
        if (done) {
          const at = performance.now();
          completedAt.set(done.instance_id, at);
          completionWaiters.get(done.instance_id)?.(at);
        }
      }
    };
    const rt = await Runtime.start(a, ActivityRegistry.builder().build(), orchestrations, {
      dispatcherLongPollTimeoutMs: 60_000,
      logLevel: "off",
    });
    try {
      const clientA = new Client(a);
      const clientB = new Client(b);
      const samples: { id: string; signal: number; ret: number; reason: WakeReason }[] = [];
      for (let k = 0; k < 5; k++) {
        const id = `gate-${k}`;
        await clientB.startOrchestration(id, "Gate", k);
        await clientA.waitForStatusChange(id, 0, { timeoutMs: 10_000 }); // subscribed
        // B waits long enough for its poll back-off to reach its maximum (500 ms) before the end.
        let returnedAt = 0;
        const waiting = clientB.waitForOrchestration(id, { timeoutMs: 30_000 }).then((s) => {
          returnedAt = performance.now();
          return s;
        });
        let signalledAt = 0;
        const signalled = instanceSignals(b)
          .wait(id, 30_000)
          .then((r) => {
            signalledAt = performance.now();
            return r;
          });
        await Bun.sleep(1_200 + 97 * k); // let B's back-off grow, and vary the phase against it
        await clientA.raiseEvent(id, "go", 100);
        const s = await within(`B's wait for ${id}`, waiting, 30_000);
        const reason = await within(`B's terminal signal for ${id}`, signalled, 30_000);
        expect(s.status).toBe("Completed");
        expect(s.status === "Completed" && s.output).toBe(100 + k);
        expect(reason).toBe("terminal"); // B's process heard of the completion though it did nothing itself
        const done = await within(`A's completing ack of ${id}`, completion(id), 10_000);
        samples.push({ id, signal: signalledAt - done, ret: returnedAt - done, reason });
      }
      for (const x of samples) {
        expect(x.signal).toBeLessThan(WAKE_BOUND_MS);
        expect(x.ret).toBeLessThan(WAKE_BOUND_MS);
        // The return follows the notification at once. A client polling every 500 ms without it
        // would land within 150 ms of it by chance only 30 % of the time: 5 samples, 0.24 %.
        expect(Math.abs(x.ret - x.signal)).toBeLessThan(150);
      }
      figures.push(
        `(c) B's terminal signal / B's waitForOrchestration return after A's completing ack, ms: ${samples
          .map((x) => `${x.signal.toFixed(1)}/${x.ret.toFixed(1)}`)
          .join(", ")}`,
      );
    } finally {
      await rt.shutdown(500);
    }
  },
);

pgTest("(d) two schemas on one server do not wake each other", async () => {
  const x = freshSchema();
  const y = freshSchema();
  const a = await connect(x);
  const other = await connect(y);
  const spy = spyQueries(a);
  const t0 = performance.now();
  const fetched = a.fetchOrchestrationItem(30_000, 1_500);
  await spy.settled("fetchOrchestrationItem");
  await other.enqueueForOrchestrator(startItem("other-schema"), null);
  await other.enqueueForWorker(activityItem("other-schema", 1));
  expect(await fetched).toBeNull();
  const ms = performance.now() - t0;
  expect(ms).toBeGreaterThanOrEqual(1_450);
  // Never woken: one look, then more only at the poll timeout (the long poll's last look; a timer
  // that fires a fraction of a millisecond early makes that two looks).
  const looks = spy.records.filter((r) => r.op === "fetchOrchestrationItem").map((r) => r.start - t0);
  expect(looks.filter((at) => at < 1_450).length).toBe(1);

  // Control: A does hear its own schema.
  const sameSchema = await connect(x);
  const again = a.fetchOrchestrationItem(30_000, 20_000);
  await spy.settled("fetchOrchestrationItem", 2);
  const t1 = performance.now();
  await sameSchema.enqueueForOrchestrator(startItem("same-schema"), null);
  const item = await within("A's fetch after an enqueue on its own schema", again, 25_000);
  expect(item?.item.instance).toBe("same-schema");
  expect(performance.now() - t1).toBeLessThan(WAKE_BOUND_MS);
  figures.push(`(d) other schema: no wake-up, looks at ${looks.map((l) => l.toFixed(0)).join(", ")} ms, null after ${ms.toFixed(0)} ms`);
});

// A lock that expires (its holder crashed, or lost its ack/abandon to an outage) makes the item
// fetchable again; a waiting fetch must wake at that expiry, not at its fallback poll (60 s here)
// or its poll timeout: the empty fetch learns the next expiry from the server and sleeps no longer.
function expiryTest(name: string, fn: () => Promise<void>): void {
  pgTest(name, fn, 30_000);
}

expiryTest("(e) a worker fetch waiting while another process holds the item's lock returns once that lock expires", async () => {
  const { a, b } = await pair();
  await b.enqueueForWorker(activityItem("lost-work-lock", 1));
  const held = await b.fetchWorkItem(1_000, 0, null, TagFilter.defaultOnly()); // B "dies" holding it for 1 s
  expect(held?.attemptCount).toBe(1);
  const t0 = performance.now();
  const again = await a.fetchWorkItem(30_000, 8_000, null, TagFilter.defaultOnly());
  const ms = performance.now() - t0;
  figures.push(`(e) worker redelivery after a 1 s lock: ${again === null ? "none" : "at"} ${ms.toFixed(0)} ms`);
  expect(again?.item.type === "ActivityExecute" && again.item.instance).toBe("lost-work-lock");
  expect(again?.attemptCount).toBe(2);
  expect(ms).toBeLessThan(1_000 + WAKE_BOUND_MS);
});

expiryTest("(e) an orchestrator fetch waiting while another process holds the instance's lock returns once that lock expires", async () => {
  const { a, b } = await pair();
  await b.enqueueForOrchestrator(startItem("lost-orch-lock"), null);
  const held = await b.fetchOrchestrationItem(1_000, 0); // B "dies" holding the instance for 1 s
  expect(held?.item.instance).toBe("lost-orch-lock");
  const t0 = performance.now();
  const again = await a.fetchOrchestrationItem(30_000, 8_000);
  const ms = performance.now() - t0;
  figures.push(`(e) orchestrator redelivery after a 1 s lock: ${again === null ? "none" : "at"} ${ms.toFixed(0)} ms`);
  expect(again?.item.instance).toBe("lost-orch-lock");
  expect(ms).toBeLessThan(1_000 + WAKE_BOUND_MS);
});
