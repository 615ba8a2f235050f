/**
 * Several runtimes over time on one store, in one process (docs/runtime-semantics.md §1.9, §1.11):
 * a shut-down runtime claims and holds nothing, sessions move on at once after a graceful
 * shutdown, `workerNodeId` shares and keeps ownership, and worker-only / orchestration-only
 * runtimes split the work. Runtimes use the defaults that made these break (30 s long polls, 30 s
 * session leases): anything that waits one of them out fails the 1 s bounds below.
 */
import { afterAll, afterEach, describe, expect, test } from "bun:test";
import {
  ActivityRegistry,
  Client,
  ConfigurationError,
  OrchestrationRegistry,
  Runtime,
  TagFilter,
  type ActivityContext,
  type OrchestrationContext,
  type RuntimeOptions,
} from "../../src/index.ts";
import { shareInstanceSignals } from "../../src/instance-signals.ts";
import type { Provider } from "../../src/provider.ts";
import { MemoryProvider } from "../../src/providers/memory.ts";
import { PostgresProvider } from "../../src/providers/postgres.ts";
import { SqliteProvider } from "../../src/providers/sqlite.ts";
import { postgresForTests } from "../providers/postgres-server.ts";
import { freshSchema, within } from "../postgres/helpers.ts";

type Ran = { label: string; sessionId: string | null; workerId: string };

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

// PostgreSQL too (the shared test server, a fresh schema per test): its own fetch signal and
// session release are what these tests exercise. Without a server (and not under CI) it is skipped
// with the reason below.
const pg = await postgresForTests();
const pgSchemas: string[] = [];
afterAll(async () => {
  if (pg.url !== null) for (const s of pgSchemas) await PostgresProvider.dropSchema(pg.url, s);
});

const STORES: [string, () => Promise<Provider & { close(): unknown }>][] = [
  ["memory", () => MemoryProvider.create()],
  ["sqlite", () => SqliteProvider.inMemory()],
  ...(pg.url === null
    ? []
    : [
        [
          "postgres",
          () => {
            const schema = freshSchema();
            pgSchemas.push(schema);
            return PostgresProvider.connect(pg.url!, { schema, poolMax: 4 });
          },
        ] as [string, () => Promise<Provider & { close(): unknown }>],
      ]),
];
if (pg.url === null) test.skip(`Runtime.shutdown with several runtimes on one store [postgres] [skipped: ${pg.reason}]`, () => {});

/** Generous bound for "at once": far below the 30 s long poll and session lease it replaces. */
const AT_ONCE_MS = 1_000;

const running: Runtime[] = [];
const opened: { close(): unknown }[] = [];
afterEach(async () => {
  for (const rt of running.splice(0)) await rt.shutdown(0);
  for (const p of opened.splice(0)) await p.close();
});

/** Every promise-returning call made through `view`, and how many are still running. */
function counting(provider: Provider): { view: Provider; calls: string[]; inFlight(): number; called(op: string): Promise<void> } {
  const calls: string[] = [];
  const waiting: { op: string; resolve: () => void }[] = [];
  let inFlight = 0;
  const view = new Proxy(provider, {
    get: (target, prop) => {
      const v = Reflect.get(target, prop, target) as unknown;
      if (typeof v !== "function") return v;
      return (...args: unknown[]) => {
        const r = (v as (...a: unknown[]) => unknown).apply(target, args);
        if (r instanceof Promise) {
          calls.push(String(prop));
          for (const w of waiting.filter((w) => w.op === prop)) w.resolve();
          inFlight++;
          r.finally(() => inFlight--).catch(() => {});
        }
        return r;
      };
    },
  });
  shareInstanceSignals(view, provider);
  const called = (op: string) =>
    calls.includes(op) ? Promise.resolve() : new Promise<void>((resolve) => waiting.push({ op, resolve }));
  return { view, calls, inFlight: () => inFlight, called };
}

function where(label: string, ctx: ActivityContext): Ran {
  return { label, sessionId: ctx.sessionId ?? null, workerId: ctx.workerId };
}

const onSession = function* (ctx: OrchestrationContext, sessionId: string) {
  return yield* ctx.scheduleActivityOnSession<Ran>("Where", null, sessionId);
};

function activities(label: string, hold?: Promise<void>): ActivityRegistry {
  return ActivityRegistry.builder()
    .register("Where", async (ctx: ActivityContext) => {
      // A handler that ignores its signal: it outlives its runtime's shutdown.
      if (hold !== undefined) await hold;
      return where(label, ctx);
    })
    .build();
}

const orchestrations = OrchestrationRegistry.builder().register("OnSession", onSession).build();

async function start(p: Provider, acts: ActivityRegistry, options: RuntimeOptions = {}): Promise<Runtime> {
  const rt = await Runtime.start(p, acts, orchestrations, { logLevel: "off", ...options });
  running.push(rt);
  return rt;
}

async function runOnSession(client: Client, id: string, sessionId: string): Promise<{ ran: Ran; ms: number }> {
  const t0 = performance.now();
  await client.startOrchestration(id, "OnSession", sessionId);
  const s = await client.waitForOrchestration<Ran>(id, { timeoutMs: 10_000 });
  if (s.status !== "Completed") throw new Error(`${id} ended ${s.status}: ${JSON.stringify(s)}`);
  return { ran: s.output, ms: performance.now() - t0 };
}

for (const [kind, open] of STORES) {
  describe(`Runtime.shutdown with several runtimes on one store [${kind}]`, () => {
    test("after A's shutdown resolves, runtime B runs a new session and A's old session in under a second (not after the 30 s long poll or session lease)", async () => {
      const p = await open();
      opened.push(p);
      const client = new Client(p);
      const a = await start(p, activities("A"));
      expect((await runOnSession(client, "first", "s-old")).ran).toMatchObject({ label: "A", sessionId: "s-old" });
      // A's worker slots are now idle in 30 s long polls: shutdown cancels them.
      const t0 = performance.now();
      await a.shutdown();
      expect(performance.now() - t0).toBeLessThan(AT_ONCE_MS);

      await start(p, activities("B"));
      const fresh = await runOnSession(client, "new-session", "s-new");
      expect(fresh.ran).toMatchObject({ label: "B", sessionId: "s-new" });
      expect(fresh.ms).toBeLessThan(AT_ONCE_MS);
      // A released the session it owned: it continues on B at once.
      const same = await runOnSession(client, "same-session", "s-old");
      expect(same.ran).toMatchObject({ label: "B", sessionId: "s-old" });
      expect(same.ms).toBeLessThan(AT_ONCE_MS);
    });

    test("a counting provider wrapper sees no call from A after its shutdown resolved, even with an activity that ignores its signal; the cut activity runs again on B", async () => {
      const p = await open();
      opened.push(p);
      const client = new Client(p);
      const counted = counting(p);
      const hold = deferred();
      const started = deferred();
      const a = await Runtime.start(
        counted.view,
        ActivityRegistry.builder()
          .register("Where", async (ctx: ActivityContext) => {
            started.resolve();
            await hold.promise; // ignores ctx.signal
            return where("A", ctx);
          })
          .build(),
        orchestrations,
        { logLevel: "off", activityCancellationGracePeriodMs: 60_000 },
      );
      running.push(a);
      await client.startOrchestration("stubborn", "OnSession", "s-held");
      await within("the activity to start on A", started.promise, 5_000);

      await a.shutdown(50);
      const callsAtShutdown = counted.calls.length;
      expect(counted.inFlight()).toBe(0);

      // Work that A's old fetches or renewals would have reacted to: B's enqueues and acks, and the
      // held handler finishing.
      await start(p, activities("B"));
      const held = await client.waitForOrchestration<Ran>("stubborn", { timeoutMs: 5_000 });
      expect(held).toMatchObject({ status: "Completed", output: { label: "B", sessionId: "s-held" } });
      expect((await runOnSession(client, "after", "s-after")).ran.label).toBe("B");
      hold.resolve();
      await new Promise((r) => setImmediate(r));
      await new Promise((r) => setTimeout(r, 0));
      expect(counted.calls.slice(callsAtShutdown)).toEqual([]);
      expect(counted.inFlight()).toBe(0);
    });

    test("a provider that ignores the fetch signal: the claim that returns after shutdown began is handed back with its session released, so another runtime runs it at once", async () => {
      const p = await open();
      opened.push(p);
      const client = new Client(p);
      // Third-party style: forwards fetches without their signal, so A's idle poll is not cancelled.
      const deaf = new Proxy(p, {
        get: (target, prop) => {
          const v = Reflect.get(target, prop, target) as unknown;
          if (prop === "fetchWorkItem") {
            return (lock: number, poll: number, session: never, tags: never) => target.fetchWorkItem(lock, poll, session, tags);
          }
          return typeof v === "function" ? v.bind(target) : v;
        },
      });
      const claimed = counting(deaf);
      const a = await start(claimed.view, activities("A"), { orchestrationConcurrency: 0, workerConcurrency: 1, dispatcherLongPollTimeoutMs: 5_000, workerPrefetch: false });
      await start(p, activities("O"), { workerConcurrency: 0 }); // schedules, runs no activity
      await within("A's worker to start its long poll", claimed.called("fetchWorkItem"), 5_000);
      const stopping = a.shutdown(0);
      // The orchestration-only runtime schedules the activity; the enqueue wakes A's poll, which claims it.
      await client.startOrchestration("late", "OnSession", "s-late");
      await within("A's shutdown", stopping, 5_000);
      expect(claimed.calls).toContain("abandonWorkItem");
      expect(claimed.calls).toContain("releaseSessionLocks");

      const t0 = performance.now();
      await start(p, activities("B"), { orchestrationConcurrency: 0 });
      const s = await client.waitForOrchestration<Ran>("late", { timeoutMs: 5_000 });
      expect(s).toMatchObject({ status: "Completed", output: { label: "B", sessionId: "s-late" } });
      expect(performance.now() - t0).toBeLessThan(AT_ONCE_MS);
    });

    test("workerNodeId: sessions belong to the node id, not the runtime; a runtime started again with that id resumes them at once while another id must wait", async () => {
      const p = await open();
      opened.push(p);
      const client = new Client(p);
      const a = await start(p, activities("A"), { workerNodeId: "node-1" });
      expect((await runOnSession(client, "first", "s-node")).ran).toMatchObject({ label: "A", sessionId: "s-node" });
      // Shutdown keeps node-1's sessions (like a crash does): only node-1 may take them for the lease.
      await a.shutdown();
      await start(p, activities("Other"));
      await start(p, activities("A2"), { workerNodeId: "node-1" });
      for (const id of ["again-1", "again-2", "again-3"]) {
        const r = await runOnSession(client, id, "s-node");
        expect(r.ran).toMatchObject({ label: "A2", sessionId: "s-node" });
        expect(r.ms).toBeLessThan(AT_ONCE_MS);
      }
    });
  });
}

describe("Runtime.start with orchestrationConcurrency: 0 / workerConcurrency: 0", () => {
  test("an orchestration-only runtime and a tagged worker-only pool on one store: every activity runs on the worker pool, each runtime fetches only its own queue", async () => {
    const p = await SqliteProvider.inMemory();
    opened.push(p);
    const client = new Client(p);
    const fanOut = function* (ctx: OrchestrationContext) {
      const plain = [1, 2, 3].map((i) => ctx.scheduleActivity<Ran>("Where", i));
      const gpu = [4, 5, 6].map((i) => ctx.scheduleActivity<Ran>("Where", i).withTag("gpu"));
      return yield* ctx.all([...plain, ...gpu]);
    };
    const both = OrchestrationRegistry.builder().register("FanOut", fanOut).build();
    const orch = counting(p);
    const work = counting(p);
    // Both register everything: registrations a runtime will not use are allowed.
    const o = await Runtime.start(orch.view, activities("orchestrator"), both, { logLevel: "off", workerConcurrency: 0 });
    const w = await Runtime.start(work.view, activities("gpu-pool"), both, {
      logLevel: "off",
      orchestrationConcurrency: 0,
      workerTagFilter: TagFilter.defaultAnd("gpu"),
    });
    running.push(o, w);
    await client.startOrchestration("split", "FanOut", null);
    const s = await client.waitForOrchestration<Ran[]>("split", { timeoutMs: 5_000 });
    expect(s.status).toBe("Completed");
    if (s.status !== "Completed") return;
    expect(s.output.map((r) => r.label)).toEqual(Array(6).fill("gpu-pool"));
    expect(orch.calls).not.toContain("fetchWorkItem");
    expect(orch.calls).not.toContain("renewSessionLock");
    expect(work.calls).not.toContain("fetchOrchestrationItem");
    expect(orch.calls).toContain("fetchOrchestrationItem");
    expect(work.calls).toContain("fetchWorkItem");
  });

  test("both 0 is refused with a ConfigurationError saying which to set", async () => {
    const p = await MemoryProvider.create();
    opened.push(p);
    const start0 = Runtime.start(p, activities("x"), orchestrations, { orchestrationConcurrency: 0, workerConcurrency: 0 });
    await expect(start0).rejects.toBeInstanceOf(ConfigurationError);
    await expect(start0).rejects.toThrow(/both 0.*worker-only.*orchestration-only/);
  });
});

describe("Runtime.shutdown timeoutMs", () => {
  test("takes an integer 0..2^31−1: 2^31 (which a timer would turn into ~1 ms), 0.5, -1 and NaN are refused with a ConfigurationError and the runtime keeps running", async () => {
    const p = await MemoryProvider.create();
    opened.push(p);
    const rt = await start(p, activities("A"));
    for (const bad of [2 ** 31, 0.5, -1, Number.NaN]) {
      await expect(rt.shutdown(bad)).rejects.toBeInstanceOf(ConfigurationError);
    }
    // Refused calls did not start a shutdown: the runtime still runs work.
    expect((await runOnSession(new Client(p), "still-running", "s")).ran.label).toBe("A");
    await rt.shutdown(2 ** 31 - 1); // the largest accepted; nothing in flight, so it resolves at once
  });
});
