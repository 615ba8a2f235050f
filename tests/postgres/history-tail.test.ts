// Incremental history reads of the PostgreSQL provider (docs/provider-contract.md §16.7): a fetch
// brings the last HISTORY_TAIL events; earlier ones come from what the provider object decoded
// before, proven to be the execution's prefix by finding its last event's text in the tail, or from
// one whole read. The HistoryTails cases need no server; the runtime cases do.
import { afterAll, describe, expect, test } from "bun:test";
import { Client } from "../../src/client.ts";
import { encodeEvent, type Event } from "../../src/core/events.ts";
import { PostgresProvider } from "../../src/providers/postgres.ts";
import { HISTORY_TAIL, HistoryTails } from "../../src/providers/postgres/history-tail.ts";
import type { OrchestrationContext } from "../../src/runtime/context.ts";
import { ActivityRegistry, OrchestrationRegistry } from "../../src/runtime/registry.ts";
import { Runtime } from "../../src/runtime/runtime.ts";
import { postgresForTests } from "../providers/postgres-server.ts";
import { freshSchema } from "./helpers.ts";

/** Events 1..n of an execution (a start, then alternating schedules and completions). */
function history(n: number, stamp = 1_000): Event[] {
  const base = (id: number) => ({ instance_id: "i", event_id: id, execution_id: 1, timestamp_ms: stamp + id, source_event_id: null, duroxide_version: "0.1.0" });
  const out: Event[] = [{ ...base(1), type: "OrchestrationStarted", name: "Seq", version: "1.0.0", input: "null", parent_instance: null, parent_id: null }];
  for (let id = 2; id <= n; id++) {
    out.push(
      id % 2 === 0
        ? { ...base(id), type: "ActivityScheduled", name: "Work", input: String(id) }
        : { ...base(id), type: "ActivityCompleted", source_event_id: id - 1, result: String(id) },
    );
  }
  return out;
}
const texts = (events: Event[]) => events.map(encodeEvent);
const tailOf = (t: string[]) => t.slice(-HISTORY_TAIL);

describe("HistoryTails.assemble", () => {
  test("a complete tail is the history", () => {
    const h = history(30);
    const got = new HistoryTails().assemble("i", 1, texts(h), true);
    expect("events" in got && got.events.map((e) => e.event_id)).toEqual(h.map((e) => e.event_id));
  });

  test("an incomplete tail continues the held prefix when it contains the held last event", () => {
    const tails = new HistoryTails();
    const first = texts(history(80));
    tails.assemble("i", 1, first, true); // held: 80 events (at least half a tail)
    const grown = texts(history(150));
    const got = tails.assemble("i", 1, tailOf(grown), false);
    if (!("events" in got)) throw new Error("expected the held prefix to be used");
    expect(got.events.map((e) => e.event_id)).toEqual(Array.from({ length: 150 }, (_, i) => i + 1));
    // and again, from the new held state
    const again = tails.assemble("i", 1, tailOf(texts(history(170))), false);
    expect("events" in again && again.events.length).toBe(170);
  });

  test("an incomplete tail without a held prefix, of another execution, or not containing the held last event asks for a whole read", () => {
    const tails = new HistoryTails();
    expect(tails.assemble("i", 1, tailOf(texts(history(150))), false)).toEqual({ readWhole: true });
    tails.whole("i", 1, texts(history(80)));
    expect(tails.assemble("i", 2, tailOf(texts(history(150))), false)).toEqual({ readWhole: true });
    tails.whole("i", 1, texts(history(80)));
    expect(tails.assemble("i", 1, tailOf(texts(history(300))), false)).toEqual({ readWhole: true }); // held end fell out of the tail
    // the instance deleted and started again: same ids, other texts (other times)
    tails.whole("i", 1, texts(history(80)));
    expect(tails.assemble("i", 1, tailOf(texts(history(150, 5_000))), false)).toEqual({ readWhole: true });
  });

  test("an unreadable event in the tail throws and leaves the held prefix as it was", () => {
    const tails = new HistoryTails();
    tails.whole("i", 1, texts(history(80)));
    const bad = tailOf(texts(history(150)));
    bad[bad.length - 1] = "{not json";
    expect(() => tails.assemble("i", 1, bad, false)).toThrow();
    const got = tails.assemble("i", 1, tailOf(texts(history(150))), false);
    expect("events" in got && got.events.map((e) => e.event_id)).toEqual(Array.from({ length: 150 }, (_, i) => i + 1));
  });

  test("short histories are not held (they arrive whole), and the held total is bounded", () => {
    const tails = new HistoryTails();
    tails.whole("short", 1, texts(history(10)));
    expect(tails.size).toEqual({ instances: 0, events: 0 });
    tails.whole("long", 1, texts(history(80)));
    expect(tails.size).toEqual({ instances: 1, events: 80 });
    tails.forget("long");
    expect(tails.size).toEqual({ instances: 0, events: 0 });
  });
});

const pg = await postgresForTests();
const schemas: string[] = [];
afterAll(async () => {
  if (pg.url !== null) for (const s of schemas) await PostgresProvider.dropSchema(pg.url, s);
});

/** Records every query the provider sends, as "op|sql". */
function recordCalls(provider: PostgresProvider): string[] {
  type Call = (op: string, text: string, params: unknown[]) => Promise<unknown[]>;
  const target = provider as unknown as { call: Call };
  const original = target.call.bind(provider);
  const seen: string[] = [];
  target.call = (op, text, params) => {
    seen.push(`${op}|${text}`);
    return original(op, text, params);
  };
  return seen;
}
/** Whole-history reads a fetch made (the fetch itself calls fetch_orch_tail, which has no ORDER BY in its text). */
const wholeReads = (calls: string[]) => calls.filter((c) => c.startsWith("fetchOrchestrationItem|") && c.includes("ORDER BY event_id")).length;
/** Calls that claimed (or tried to claim) a turn: fetches, and writes that claim for an idle fetch (hand-offs). */
const fetches = (calls: string[]) => calls.filter((c) => /\.(fetch_orch_tail|enqueue_orch_claim|ack_work_many_claim)\(/.test(c)).length;

function registries() {
  const activities = ActivityRegistry.builder().register("Work", async (_c, i: number) => i).build();
  const orchestrations = OrchestrationRegistry.builder()
    .register("Seq", function* (ctx: OrchestrationContext, n: number) {
      let sum = 0;
      for (let i = 0; i < n; i++) sum += yield* ctx.scheduleActivity<number>("Work", i);
      ctx.setCustomStatus("waiting");
      const more = yield* ctx.scheduleWait<number>("More");
      for (let i = 0; i < more; i++) sum += yield* ctx.scheduleActivity<number>("Work", 1000);
      return sum;
    })
    .build();
  return { activities, orchestrations };
}

const OPTS = { logLevel: "off", orchestrationConcurrency: 1, workerConcurrency: 1 } as const;

(pg.url === null ? test.skip : test)(
  `a long-running instance's turns read history tails only; a provider that never saw it reads it whole once, then tails again${pg.url === null ? ` [skipped: ${pg.reason}]` : ""}`,
  async () => {
    const url = pg.url!;
    const schema = freshSchema();
    schemas.push(schema);
    const { activities, orchestrations } = registries();

    // Provider A: 70 activities (141 events: past one tail) then the instance waits for More.
    const a = await PostgresProvider.connect(url, { schema });
    const callsA = recordCalls(a);
    const rtA = await Runtime.start(a, activities, orchestrations, OPTS);
    const clientA = new Client(a);
    await clientA.startOrchestration("long", "Seq", 70);
    await clientA.waitForStatusChange("long", 0, { timeoutMs: 30_000 });
    await rtA.shutdown(2_000);
    expect(fetches(callsA)).toBeGreaterThan(70);
    expect(wholeReads(callsA)).toBe(0);

    // Provider B has never fetched "long": its first fetch reads the history whole, the rest tails.
    const b = await PostgresProvider.connect(url, { schema });
    const callsB = recordCalls(b);
    const rtB = await Runtime.start(b, activities, orchestrations, OPTS);
    const clientB = new Client(b);
    await clientB.raiseEvent("long", "More", 20);
    const done = await clientB.waitForOrchestration("long", { timeoutMs: 30_000 });
    expect(done).toMatchObject({ status: "Completed", output: (69 * 70) / 2 + 20 * 1000 });
    await rtB.shutdown(2_000);
    expect(fetches(callsB)).toBeGreaterThan(20);
    expect(wholeReads(callsB)).toBe(1);

    const h = await clientB.readExecutionHistory("long");
    expect(h.length).toBeGreaterThan(HISTORY_TAIL + 60);
    expect(h.map((e) => e.event_id)).toEqual(Array.from({ length: h.length }, (_, i) => i + 1));
    await a.close();
    await b.close();
  },
  60_000,
);
