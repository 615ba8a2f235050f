// Claiming ahead (src/providers/postgres/claimed-ahead.ts, docs/provider-contract.md §16.4): a
// turn's ack claims activities for this process's busy worker fetches in its own transaction,
// and the next fetches take them without a round trip. The ClaimedAhead tests need no server;
// the others run providers on a fresh schema (A the one that claims, B another process).
import { afterAll, describe, expect, test } from "bun:test";
import { TagFilter } from "../../src/core/queue-types.ts";
import { activityCompletedItem, activityItem, activityScheduledEvent, runningMeta, startItem, startedEvent } from "../../src/provider-tests/helpers.ts";
import { PostgresProvider } from "../../src/providers/postgres.ts";
import { CLAIM_AHEAD_HOLD_MS, ClaimedAhead } from "../../src/providers/postgres/claimed-ahead.ts";
import { postgresForTests } from "../providers/postgres-server.ts";
import { freshSchema, spyQueries, within } from "./helpers.ts";

describe("ClaimedAhead", () => {
  test("room: nothing without recent takes; then as many as were taken in the hold window, less those held, at most max and what is offered", () => {
    const released: string[] = [];
    const c = new ClaimedAhead<string>(4, (r) => released.push(r));
    expect(c.room(5, 1_000)).toBe(0);
    c.noteTaken(1_000);
    c.noteTaken(1_010);
    expect(c.room(5, 1_020)).toBe(2);
    expect(c.room(1, 1_020)).toBe(1);
    // Takes older than the hold window no longer count.
    expect(c.room(5, 1_010 + CLAIM_AHEAD_HOLD_MS + 1)).toBe(0);
    for (let i = 0; i < 10; i++) c.noteTaken(2_000 + i);
    expect(c.room(9, 2_010)).toBe(4); // max 4
    c.put("k", ["a", "b", "c"], 30_000, 2_010);
    expect(c.room(9, 2_011)).toBe(1);
    expect(c.drain()).toEqual(["a", "b", "c"]);
    expect(released).toEqual([]);
  });

  test("take: the oldest young entry of the key; other keys untouched; entries past their hold go back on the way", () => {
    const released: string[] = [];
    const c = new ClaimedAhead<string>(8, (r) => released.push(r));
    c.put("k", ["old"], 30_000, 0);
    c.put("other", ["x"], 30_000, 50);
    c.put("k", ["young1", "young2"], 30_000, CLAIM_AHEAD_HOLD_MS);
    expect(c.take("k", CLAIM_AHEAD_HOLD_MS + 1)).toBe("young1");
    expect(released).toEqual(["old"]);
    expect(c.take("k", CLAIM_AHEAD_HOLD_MS + 2)).toBe("young2");
    expect(c.take("k", CLAIM_AHEAD_HOLD_MS + 3)).toBeUndefined();
    expect(c.size).toBe(1);
    expect(c.drain()).toEqual(["x"]);
  });

  test("the hold is a quarter of the lock timeout when that is shorter", () => {
    const released: string[] = [];
    const c = new ClaimedAhead<string>(8, (r) => released.push(r));
    c.put("k", ["short"], 100, 0); // hold 25 ms
    expect(c.take("k", 26)).toBeUndefined();
    expect(released).toEqual(["short"]);
    c.drain();
  });

  test("an entry nobody takes is given back by the sweep once its hold has passed", async () => {
    let release!: (row: string) => void;
    const back = new Promise<string>((r) => (release = r));
    const c = new ClaimedAhead<string>(8, (row) => release(row));
    const at = performance.now();
    c.put("k", ["idle"], 30_000);
    expect(await within("the sweep", back, 5_000)).toBe("idle");
    expect(performance.now() - at).toBeGreaterThanOrEqual(CLAIM_AHEAD_HOLD_MS);
    expect(c.size).toBe(0);
  });

  test("max 0 never claims ahead", () => {
    const c = new ClaimedAhead<string>(0, () => {});
    c.noteTaken(0);
    c.noteTaken(1);
    expect(c.room(5, 2)).toBe(0);
  });
});

const pg = await postgresForTests();
const opened: PostgresProvider[] = [];
const schemas = new Set<string>();

async function connect(schema: string, extra: Record<string, unknown> = {}): Promise<PostgresProvider> {
  schemas.add(schema);
  const p = await PostgresProvider.connect(pg.url!, { fallbackPollIntervalMs: 60_000, poolMax: 3, schema, ...extra });
  opened.push(p);
  return p;
}

afterAll(async () => {
  if (pg.url === null) return;
  await Promise.all(opened.map((p) => p.close()));
  for (const s of schemas) await PostgresProvider.dropSchema(pg.url, s);
});

function pgTest(name: string, fn: () => Promise<void>, timeoutMs = 60_000): void {
  if (pg.url === null) test.skip(`${name} [skipped: ${pg.reason}]`, () => {});
  else test(name, fn, timeoutMs);
}

type Insides = { claimedAhead: ClaimedAhead<unknown> };
const held = (p: PostgresProvider) => (p as unknown as Insides).claimedAhead;
const DEFAULT = TagFilter.defaultOnly();

/**
 * Makes A's worker fetches look busy (two fetches that found work, just now), then commits a turn
 * of `instance` that schedules `activities` (options per activity). The orchestration item is
 * fetched first, so that nothing but the ack stands between the fetches and the claim.
 */
async function busyThenTurn(a: PostgresProvider, instance: string, activities: ReturnType<typeof activityItem>[]): Promise<void> {
  await a.enqueueForOrchestrator(startItem(instance), null);
  const f = await a.fetchOrchestrationItem(30_000, 0);
  expect(f?.item.instance).toBe(instance);
  await a.enqueueForWorker(activityItem(`${instance}-warm`, 1));
  await a.enqueueForWorker(activityItem(`${instance}-warm`, 2));
  for (let i = 0; i < 2; i++) {
    const w = await a.fetchWorkItem(30_000, 0, null, DEFAULT);
    expect(w).not.toBeNull();
    await a.ackWorkItem(w!.lockToken, null);
  }
  await a.ackOrchestrationItem(
    f!.lockToken,
    1,
    [startedEvent(instance), ...activities.map((w) => activityScheduledEvent(instance, 1, w.id))],
    activities,
    [],
    runningMeta(),
    [],
  );
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
