// A start committed with its first turn: the cases two hostile reviews found (each failed before its fix).
// The feature's own tests are in fused-starts.test.ts; this file has its own providers, since each
// test opens a few and the server allows 100 connections. (docs/provider-contract.md §16.4)
// A StartOrchestration enqueued while an orchestrator fetch of the same provider is idle is handed to
// that fetch without a write; the turn's ack writes the start's effects and the turn in one
// transaction, and only then is the enqueue's caller answered. Whenever that cannot be done (the
// instance is not new, the lock lapses, the batch is abandoned, the provider closes) the start goes
// through the queue instead: never lost, never applied twice.
import { expect } from "bun:test";
import { Client } from "../../src/client.ts";
import type { WorkItem } from "../../src/core/work-items.ts";
import type { OrchestrationContext } from "../../src/runtime/context.ts";
import type { Logger } from "../../src/runtime/options.ts";
import { ActivityRegistry, OrchestrationRegistry } from "../../src/runtime/registry.ts";
import { Runtime } from "../../src/runtime/runtime.ts";
import { runningMeta, startItem, startedEvent } from "../../src/provider-tests/helpers.ts";
import type { PostgresProvider } from "../../src/providers/postgres.ts";
import { postgresForTests } from "../providers/postgres-server.ts";
import { busy, fusedStartKit, handedStart, loseReplyAfterCommit, outcome, parkedOrch, queued } from "./fused-start-kit.ts";
import { freshSchema, within } from "./helpers.ts";

const pg = await postgresForTests();
const { connect, pgTest } = fusedStartKit(pg);

pgTest("abandonOrchestrationItem of a held start counting the attempt (ignoreAttempt false) counts it, as for a stored batch", async () => {
  const p = await connect();
  // Ordinary path (no parked fetch): attempt 1, abandon counted -> attempt 2.
  await p.enqueueForOrchestrator(startItem("r1-plain"), null);
  const a1 = await p.fetchOrchestrationItem(30_000, 0);
  expect(a1?.attemptCount).toBe(1);
  await p.abandonOrchestrationItem(a1!.lockToken, 0, false);
  const a2 = await p.fetchOrchestrationItem(30_000, 0);
  expect(a2?.attemptCount).toBe(2);

  // Fused path (own schema).
  const p2 = await connect();
  {
  const p = p2;
  const { f, started } = await handedStart(p, "r1-fused");
  expect(f?.item.instance).toBe("r1-fused");
  expect(f?.attemptCount).toBe(1);
  await p.abandonOrchestrationItem(f!.lockToken, 0, false);
  await started;
  const g = await p.fetchOrchestrationItem(30_000, 0);
  expect(g?.item.instance).toBe("r1-fused");
  expect(g?.attemptCount).toBe(2);
  }
});

// close() while the fused ack is in flight: the turn commits AND drain() queues the start again.
pgTest("close() while a held start's ack is committing waits for it: the start is not queued a second time", async () => {
  const schema = freshSchema();
  const p = await connect(schema);
  const { f, started } = await handedStart(p, "r2");
  // close() is called after start_ack_orch committed but before its reply reached the provider
  // (the reply in transit: the window between the server's commit and committed()).
  const target = p as unknown as { call: (op: string, text: string, params: unknown[]) => Promise<unknown[]> };
  const call = target.call.bind(p);
  let closing: Promise<void> | undefined;
  target.call = async (op, text, params) => {
    const rows = await call(op, text, params);
    if (text.includes("start_ack_orch")) {
      closing = p.close();
      await Bun.sleep(50);
    }
    return rows;
  };
  const ack = outcome(p.ackOrchestrationItem(f!.lockToken, 1, [startedEvent("r2")], [], [], runningMeta(), []));
  expect(await ack).toBe("ok");
  expect(await outcome(started)).toBe("ok");
  await closing;
  expect(closing).toBeDefined();
  const q = await connect(schema);
  const hist = (await q.read("r2")).map((e) => e.type);
  const rows = await queued(q, "r2");
  // The turn committed (the instance started) ...
  expect(hist).toEqual(["OrchestrationStarted"]);
  // ... so nothing should be left to start it again.
  expect(rows).toEqual([]);
});

// the fused ack's commit lands but its reply is lost (connection cut): the hold's timer then
// writes the start alone (a plain enqueue, the instance exists): a second StartOrchestration.
pgTest("a held start's ack whose answer is lost after it committed: the retry succeeds and the start is not queued a second time", async () => {
  const p = await connect(undefined, 100);
  loseReplyAfterCommit(p, (text) => text.includes("start_ack_orch"));
  const { f, started } = await handedStart(p, "r3");
  const first = await outcome(p.ackOrchestrationItem(f!.lockToken, 1, [startedEvent("r3")], [], [], runningMeta(), []));
  await Bun.sleep(20); // the runtime's retry back-off is 10 ms
  const retry = await outcome(p.ackOrchestrationItem(f!.lockToken, 1, [startedEvent("r3")], [], [], runningMeta(), []));
  expect([first, retry, await outcome(started)]).toEqual(["Unavailable", "ok", "ok"]);
  const hist = (await p.read("r3")).map((e) => e.type);
  const rows = await queued(p, "r3");
  expect(hist).toEqual(["OrchestrationStarted"]);
  expect(rows).toEqual([]);
});

// a slow (but within its lock) first turn whose fused ack meets DXS01 (an event raised by
// another process during the turn) is taken for a turn that outran its lock: the instance fails.
// The event committed before the start, so the start's batch holds it and the first turn drops it
// (an event raised before its instance starts); the slow-turn record must not match that batch.
pgTest(
  "a first turn slower than the renewal interval but within its lock, with an event raised for the instance meanwhile, runs again and the instance completes (its LockLost is superseded: not taken for a turn that outran its lock)",
  async () => {
    const schema = freshSchema();
    const a = await connect(schema);
    const b = await connect(schema); // another process
    const lines: string[] = [];
    const logger: Logger = { log: (level, message) => void lines.push(`${level}: ${message}`) } as Logger;
    let raiseDuringTurn = true;
    const ack = a.ackOrchestrationItem.bind(a);
    a.ackOrchestrationItem = async (token, ...rest) => {
      if (raiseDuringTurn && token.startsWith("start:")) {
        // The event another process raised while the turn's code ran (it committed before the ack).
        raiseDuringTurn = false;
        await new Client(b).raiseEvent("r4", "go", 7);
      }
      return ack(token, ...rest);
    };
    let runs = 0;
    const orchestrations = OrchestrationRegistry.builder()
      .register("Slow", function* (ctx: OrchestrationContext, n: number) {
        if (!ctx.isReplaying()) {
          runs++;
          busy(650); // > renewal interval (500 ms), < lock (1000 ms)
        }
        ctx.setCustomStatus("waiting");
        const go = yield* ctx.scheduleWait<number>("go");
        return go + n;
      })
      .build();
    const rt = await Runtime.start(a, ActivityRegistry.builder().build(), orchestrations, {
      orchestratorLockTimeoutMs: 1_000,
      orchestrationConcurrency: 1, // no other fetch of this process meets the event before the ack
      dispatcherLongPollTimeoutMs: 30_000,
      logLevel: "debug",
      logger,
    });
    try {
      await parkedOrch(a);
      const client = new Client(a);
      await within("start", client.startOrchestration("r4", "Slow", 1), 10_000);
      expect(await within("the first committed turn", client.waitForStatusChange("r4", 0, { timeoutMs: 15_000 }), 20_000)).toMatchObject({ status: "Running", customStatus: "waiting" });
      await client.raiseEvent("r4", "go", 8);
      const s = await within("the instance's end", client.waitForOrchestration("r4", { timeoutMs: 15_000 }), 20_000);
      // Completed, not failed as a turn that outran its lock: the event raised during the fused
      // turn (7) was in the start's batch and dropped there, and the one raised after the start
      // (8) completed it. The first turn ran again: its ack could not commit.
      expect(s).toMatchObject({ status: "Completed", output: 9 });
      expect(runs).toBe(2);
    } finally {
      await rt.shutdown(500);
    }
  },
  40_000,
);

// a held start's lock that lapsed (event loop blocked past it, no timer ran) can still be renewed.
pgTest("renewing a held start whose lock already lapsed (the event loop blocked past it) fails LockLost, as for a stored lock", async () => {
  const p = await connect();
  // Stored lock, for comparison.
  await p.enqueueForOrchestrator(startItem("r5-plain"), null);
  const o = await p.fetchOrchestrationItem(200, 0);
  busy(300);
  expect(await outcome(p.renewOrchestrationItemLock(o!.lockToken, 30_000))).toBe("LockLost");
  const p2 = await connect();
  {
  const p = p2;
  const { f, started } = await handedStart(p, "r5", 200);
  expect(f?.item.instance).toBe("r5");
  busy(300);
  const renew = await outcome(p.renewOrchestrationItemLock(f!.lockToken, 30_000));
  const ackr = await outcome(p.ackOrchestrationItem(f!.lockToken, 1, [startedEvent("r5")], [], [], runningMeta(), []));
  expect(ackr).toBe("LockLost");
  expect(await outcome(started)).toBe("ok");
  expect(await queued(p, "r5")).toEqual(["StartOrchestration"]);
  expect(renew).toBe("LockLost");
  }
});

// forged "start:" tokens behave as unknown locks.
pgTest("forged start: tokens fail LockLost on ack, renew and abandon", async () => {
  const p = await connect();
  const t = "start:00000000-0000-0000-0000-000000000000";
  const r = [
    await outcome(p.ackOrchestrationItem(t, 1, [startedEvent("r6")], [], [], runningMeta(), [])),
    await outcome(p.renewOrchestrationItemLock(t, 1000)),
    await outcome(p.abandonOrchestrationItem(t, 0, false)),
  ];
  expect(r).toEqual(["LockLost", "LockLost", "LockLost"]);
});

// Found by a second review: each failed before its fix.
type Sql = { unsafe(t: string, a?: unknown[]): Promise<Record<string, unknown>[]>; begin<T>(f: (tx: Sql) => Promise<T>): Promise<T> };
const sqlTx = (p: PostgresProvider) => (p as unknown as { sql: Sql }).sql;

pgTest("a renewal arriving late while a held start's ack is being written does not queue the start a second time", async () => {
  const schema = freshSchema();
  const p = await connect(schema);
  const other = await connect(schema); // only for a blocking transaction
  const { f, started } = await handedStart(p, "b1", 400);
  // Make the ack slow (a lock wait on the instance's lock row, as any concurrent writer could cause).
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let inserted!: () => void;
  const blocked = new Promise<void>((r) => (inserted = r));
  const blocker = sqlTx(other)
    .begin(async (tx) => {
      await tx.unsafe(`INSERT INTO "${schema}".instance_locks (instance_id, lock_token, locked_until, locked_at) VALUES ('b1', 'blocker', 0, 0)`);
      inserted();
      await gate;
      throw new Error("rollback");
    })
    .catch(() => {});
  await blocked;
  // The turn ran 250 ms; its ack begins within the lock (400 ms from the hand-over).
  await Bun.sleep(250);
  const ack = outcome(p.ackOrchestrationItem(f!.lockToken, 1, [startedEvent("b1")], [], [], runningMeta(), []));
  // The runtime keeps renewing during the commit; this renewal comes late (event loop blocked by another turn).
  await Bun.sleep(200);
  const renew = await outcome(p.renewOrchestrationItemLock(f!.lockToken, 400));
  release();
  await blocker;
  const a = await ack;
  await within("caller", outcome(started), 5_000);
  await Bun.sleep(100);
  const hist = (await p.read("b1")).map((e) => e.type);
  const rows = await queued(p, "b1");
  // Either the ack committed (and nothing is queued) or it failed (and the start is queued once).
  if (a === "ok") expect(rows).toEqual([]);
  else expect(hist).toEqual([]);
});


pgTest("a start already queued by another process wins over a later start handed to an idle fetch, as the first start of one batch would", async () => {
  const schema = freshSchema();
  const a = await connect(schema);
  const b = await connect(schema); // another process
  // Control: no parked fetch: A then B queued, the batch holds [A, B]: A starts the instance.
  await b.enqueueForOrchestrator(startItem("b2-plain", { input: '"A"' }), null);
  await a.enqueueForOrchestrator(startItem("b2-plain", { input: '"B"' }), null);
  const c = await a.fetchOrchestrationItem(30_000, 0);
  const plainFirst = (c!.item.messages[0] as WorkItem & { input: string }).input;
  expect(plainFirst).toBe('"A"');
  await a.abandonOrchestrationItem(c!.lockToken, 60_000, true);

  // Same sequence, a's fetch parked: A committed (its caller answered) before B is even enqueued.
  const fetched = a.fetchOrchestrationItem(30_000, 20_000);
  await parkedOrch(a);
  await b.enqueueForOrchestrator(startItem("b2", { input: '"A"' }), null);
  const sb = a.enqueueForOrchestrator(startItem("b2", { input: '"B"' }), null);
  const f = await within("parked fetch", fetched, 5_000);
  const batchFirst = (f!.item.messages[0] as WorkItem & { input: string }).input;
  const ack = await outcome(a.ackOrchestrationItem(f!.lockToken, 1, [startedEvent("b2", 1, { input: batchFirst })], [], [], runningMeta(), []));
  await within("caller", outcome(sb), 5_000);
  const hist = await a.read("b2");
  const firstInput = hist[0]?.type === "OrchestrationStarted" ? hist[0].input : null;
  // Either the fused ack is refused (B queued behind A) or it did not start the instance with B.
  expect(firstInput === null || firstInput === '"A"').toBe(true);
});


pgTest("a first turn that records no event (waiting for its handler) whose ack answer was lost: the retry does not queue the start a second time", async () => {
  const p = await connect();
  loseReplyAfterCommit(p, (text) => /\.(start_)?ack_orch(_claim_work)?\(/.test(text));
  const { f, started } = await handedStart(p, "b3");
  const requeued = f!.item.messages.map((m) => (m.type === "StartOrchestration" ? { ...m, prior_attempts: 1 } : m));
  const meta = runningMeta("TestOrch", "1.0.0", { output: "waiting for orchestration TestOrch" });
  const first = await outcome(p.ackOrchestrationItem(f!.lockToken, 1, [], [], requeued, meta, []));
  await Bun.sleep(20);
  const retry = await outcome(p.ackOrchestrationItem(f!.lockToken, 1, [], [], requeued, meta, []));
  const caller = await within("caller", outcome(started), 5_000);
  // The first ack committed and lost its answer; its retry finds the lock gone, as for any ack.
  expect([first, retry, caller]).toEqual(["Unavailable", "LockLost", "ok"]);
  const rows = await queued(p, "b3");
  expect(rows).toEqual(["StartOrchestration"]); // the start it re-queued for later, once
});

pgTest("a lapsed held start counts its delivery, as a lapsed stored batch does", async () => {
  const p = await connect();
  await p.enqueueForOrchestrator(startItem("b4-plain"), null);
  const o = await p.fetchOrchestrationItem(150, 0);
  expect(o?.attemptCount).toBe(1);
  await Bun.sleep(300);
  const o2 = await p.fetchOrchestrationItem(30_000, 0);
  const plain = o2?.attemptCount;
  await p.abandonOrchestrationItem(o2!.lockToken, 60_000, true);

  const fetched = p.fetchOrchestrationItem(150, 20_000);
  await parkedOrch(p);
  const started = p.enqueueForOrchestrator(startItem("b4"), null);
  await within("parked fetch", fetched, 5_000);
  await within("caller", started, 5_000); // lapses, queued
  const g = await p.fetchOrchestrationItem(30_000, 0);
  expect(g?.item.instance).toBe("b4");
  expect(g?.attemptCount).toBe(plain);
});


// Third review: a slow-turn rule that counted the lease from the turn's start (since replaced by
// the superseded mark, which the 650 ms test above covers) no longer caught a turn that began late
// in its lease and outran it, which then ran until poison.
pgTest(
  "a turn that began late in its lease (the event loop was busy after the fetch) and outran it is caught: its next delivery fails the instance without running it again",
  async () => {
    const a = await connect();
    const fetch = a.fetchOrchestrationItem.bind(a);
    a.fetchOrchestrationItem = async (...args) => {
      const f = await fetch(...args);
      if (f?.item.instance === "r8") busy(500); // between the fetch's lock and the turn
      return f;
    };
    let runs = 0;
    const orchestrations = OrchestrationRegistry.builder()
      .register("Slow", function* (ctx: OrchestrationContext) {
        if (!ctx.isReplaying()) {
          runs++;
          busy(600); // ends 1100 ms after the lock was taken: past the 1000 ms lock
        }
        return 1;
      })
      .build();
    const rt = await Runtime.start(a, ActivityRegistry.builder().build(), orchestrations, {
      orchestratorLockTimeoutMs: 1_000,
      orchestrationConcurrency: 1,
      dispatcherLongPollTimeoutMs: 30_000,
      maxAttempts: 3,
    });
    try {
      await parkedOrch(a);
      const client = new Client(a);
      await within("start", client.startOrchestration("r8", "Slow", null), 10_000);
      const s = await within("the instance's end", client.waitForOrchestration("r8", { timeoutMs: 20_000 }), 25_000);
      expect(s.status).toBe("Failed");
      expect((s as { message?: string }).message).toContain("of synchronous code");
      expect(runs).toBe(1);
    } finally {
      await rt.shutdown(500);
    }
  },
  40_000,
);
