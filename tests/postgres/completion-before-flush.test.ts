// A completion handed over before its flush (docs/provider-contract.md §16.4; flush-watch.ts): a
// worker's ack that hands its completion to an idle orchestrator fetch of the same provider
// commits without waiting for the WAL flush, so the turn runs sooner; the ack's caller is answered
// only once a durable commit covers it: the turn's own ack, or a flush of its own.
import { expect } from "bun:test";
import { ProviderError } from "../../src/core/errors.ts";
import { TagFilter } from "../../src/core/queue-types.ts";
import { activityCompletedItem, activityItem, event, activityScheduledEvent, runningMeta, startItem, startedEvent } from "../../src/provider-tests/helpers.ts";
import type { PostgresProvider } from "../../src/providers/postgres.ts";
import { postgresForTests } from "../providers/postgres-server.ts";
import { parked } from "./fused-start-kit.ts";
import { postgresTestKit, state, within } from "./helpers.ts";

const pg = await postgresForTests();
const { connect, pgTest } = postgresTestKit(pg, { fallbackPollIntervalMs: 60_000, poolMax: 3 });

type Unsafe = (text: string, params: unknown[]) => Promise<unknown[]>;

/** Records the statements sent straight on the pool (the flush goes there), and lets a test make some fail. */
function watchPool(p: PostgresProvider, fail?: (text: string) => unknown) {
  const sql = (p as unknown as { sql: { unsafe: Unsafe } }).sql;
  const original = sql.unsafe.bind(sql);
  const texts: string[] = [];
  sql.unsafe = (text, params) => {
    texts.push(text);
    const err = fail?.(text);
    if (err !== undefined) return Promise.reject(err);
    return original(text, params);
  };
  return { flushes: () => texts.filter((t) => t.includes("duroxide.flush") || t.includes("SET description = description")).length, texts };
}

/** An instance with one activity scheduled, that activity fetched by a worker, and an orchestrator fetch parked. */
async function completionReady(p: PostgresProvider, instance: string) {
  await p.enqueueForOrchestrator(startItem(instance), null);
  const f = await p.fetchOrchestrationItem(30_000, 0);
  await p.ackOrchestrationItem(f!.lockToken, 1, [startedEvent(instance), activityScheduledEvent(instance, 1, 2)], [activityItem(instance, 2)], [], runningMeta(), []);
  const w = await p.fetchWorkItem(30_000, 0, null, TagFilter.defaultOnly());
  expect(w?.item.type).toBe("ActivityExecute");
  const fetched = p.fetchOrchestrationItem(30_000, 20_000);
  await parked(p);
  return { w: w!, fetched };
}

pgTest("ackWorkItem handing its completion over is answered after the turn's durable ack, with no flush of its own", async () => {
  const p = await connect();
  const { w, fetched } = await completionReady(p, "cf-turn");
  const pool = watchPool(p);
  // A long fallback, so that only the turn's ack can answer the worker's.
  (p as unknown as { flushWatch: { fallbackMs: number } }).flushWatch.fallbackMs = 60_000;
  const acked = p.ackWorkItem(w.lockToken, activityCompletedItem("cf-turn", 2, "r"));
  const f = await within("the parked orchestrator fetch", fetched, 5_000);
  expect(f?.item.messages.map((m) => m.type)).toEqual(["ActivityCompleted"]);
  // The turn has its batch; the worker's caller is not answered yet.
  expect(await state(acked)).toBe("pending");
  await p.ackOrchestrationItem(f!.lockToken, 1, [event("cf-turn", 1, 3, { type: "ActivityCompleted", result: "r" }, 2)], [], [], runningMeta(), []);
  await within("the worker's ack", acked, 5_000);
  expect((await p.read("cf-turn")).map((e) => e.type)).toEqual(["OrchestrationStarted", "ActivityScheduled", "ActivityCompleted"]);
  expect(pool.flushes()).toBe(0);
});

pgTest("ackWorkItem handing its completion over is answered by a flush of its own when no durable commit follows within the fallback", async () => {
  const p = await connect();
  const { w, fetched } = await completionReady(p, "cf-fallback");
  const pool = watchPool(p);
  const acked = p.ackWorkItem(w.lockToken, activityCompletedItem("cf-fallback", 2, "r"));
  await within("the parked orchestrator fetch", fetched, 5_000);
  await within("the worker's ack", acked, 5_000);
  expect(pool.flushes()).toBe(1);
});

pgTest("ackWorkItem handing its completion over fails (retryable) when its flush fails: its caller is never told a non-durable ack is done", async () => {
  const p = await connect();
  const { w, fetched } = await completionReady(p, "cf-fail");
  watchPool(p, (text) => (text.includes("duroxide.flush") ? Object.assign(new Error("connection closed"), { code: "ERR_POSTGRES_CONNECTION_CLOSED" }) : undefined));
  const acked = p.ackWorkItem(w.lockToken, activityCompletedItem("cf-fail", 2, "r")).then(
    () => "ok",
    (e) => (e instanceof ProviderError ? `${e.kind}:${e.retryable}` : String(e)),
  );
  await within("the parked orchestrator fetch", fetched, 5_000);
  expect(await within("the worker's ack", acked, 5_000)).toBe("Unavailable:true");
});

pgTest("a role refused the WAL message flushes with a no-op update instead, from then on", async () => {
  const p = await connect();
  const { w, fetched } = await completionReady(p, "cf-refused");
  const pool = watchPool(p, (text) => (text.includes("duroxide.flush") ? Object.assign(new Error("permission denied for function pg_logical_emit_message"), { errno: "42501" }) : undefined));
  const acked = p.ackWorkItem(w.lockToken, activityCompletedItem("cf-refused", 2, "r"));
  await within("the parked orchestrator fetch", fetched, 5_000);
  await within("the worker's ack", acked, 5_000);
  expect(pool.texts.filter((t) => t.includes("duroxide.flush")).length).toBe(1);
  expect(pool.texts.filter((t) => t.includes("SET description = description")).length).toBe(1);
});

pgTest("close() makes an ack still waiting for its flush durable and answers it", async () => {
  const p = await connect();
  const { w, fetched } = await completionReady(p, "cf-close");
  (p as unknown as { flushWatch: { fallbackMs: number } }).flushWatch.fallbackMs = 60_000;
  const pool = watchPool(p);
  const acked = p.ackWorkItem(w.lockToken, activityCompletedItem("cf-close", 2, "r"));
  await within("the parked orchestrator fetch", fetched, 5_000);
  expect(await state(acked)).toBe("pending");
  await p.close();
  await within("the worker's ack", acked, 5_000);
  expect(pool.flushes()).toBe(1);
});

// From a review: close() waited without bound on a flush that hung.
pgTest("close() waits for a hung flush no longer than for its other waits (5 s)", async () => {
  const p = await connect();
  const { w, fetched } = await completionReady(p, "cf-hung");
  (p as unknown as { flushWatch: { fallbackMs: number } }).flushWatch.fallbackMs = 60_000;
  const sql = (p as unknown as { sql: { unsafe: Unsafe } }).sql;
  const original = sql.unsafe.bind(sql);
  sql.unsafe = (text, params) => (text.includes("duroxide.flush") ? Bun.sleep(15_000).then(() => original(text, params)) : original(text, params));
  const acked = p.ackWorkItem(w.lockToken, activityCompletedItem("cf-hung", 2, "r"));
  acked.catch(() => {});
  await within("the parked orchestrator fetch", fetched, 5_000);
  const t = performance.now();
  await p.close();
  expect(performance.now() - t).toBeLessThan(7_000);
}, 30_000);
