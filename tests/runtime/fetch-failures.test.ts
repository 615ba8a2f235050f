// Provider faults and recovery (docs/runtime-semantics.md §1.4 step 2, §1.10): a transient fetch
// failure is retried at once and only persisting failures back off; a failed completion ack is
// retried within tens of milliseconds; a runtime whose provider fails 5 % of its calls finishes a
// mixed workload in about the time a healthy one takes; a provider that refuses every fetch (a
// closed one) backs the loops off to seconds and is reported once per dispatcher, with a summary
// per period and a line when fetching works again.
import { describe, expect, test } from "bun:test";
import { Client } from "../../src/client.ts";
import { ProviderError } from "../../src/core/errors.ts";
import type { Provider } from "../../src/provider.ts";
import { SqliteProvider } from "../../src/providers/sqlite.ts";
import { DispatchLoops, fetchRetryDelayMs } from "../../src/runtime/dispatch-loop.ts";
import { FetchFailureLog } from "../../src/runtime/fetch-failure-log.ts";
import type { LogLevel, Logger } from "../../src/runtime/options.ts";
import { ActivityRegistry, OrchestrationRegistry } from "../../src/runtime/registry.ts";
import { Runtime } from "../../src/runtime/runtime.ts";
import { runMixedBatch } from "../../src/stress/scenario-mixed.ts";
import { FaultInjectingProvider } from "../../src/testing/fault-injecting-provider.ts";

interface Line {
  level: LogLevel;
  message: string;
}

/** A logger that records every line and lets a test await the first line matching a pattern. */
function recordingLogger(): Logger & { lines: Line[]; next(pattern: RegExp, timeoutMs?: number): Promise<Line> } {
  const lines: Line[] = [];
  const waiters: { pattern: RegExp; resolve: (l: Line) => void }[] = [];
  return {
    lines,
    log(level, message) {
      const line = { level, message };
      lines.push(line);
      for (const w of waiters.splice(0)) {
        if (w.pattern.test(message)) w.resolve(line);
        else waiters.push(w);
      }
    },
    next(pattern, timeoutMs = 5_000) {
      const seen = lines.find((l) => pattern.test(l.message));
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise<Line>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no log line matching ${pattern} within ${timeoutMs} ms; lines:\n${lines.map((l) => `${l.level} ${l.message}`).join("\n")}`)), timeoutMs);
        waiters.push({ pattern, resolve: (l) => (clearTimeout(t), resolve(l)) });
      });
    },
  };
}

const unavailable = () => ProviderError.unavailable("fetchWorkItem", "busy");

describe("DispatchLoops after a failed fetch", () => {
  test("fetchRetryDelayMs: a transient failure is retried at once, persisting ones back off from 10 ms to 3 s; permanent ones from 250 ms to 5 s", () => {
    expect([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 50].map((n) => fetchRetryDelayMs(n, false))).toEqual([0, 10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3000, 3000]);
    expect([1, 2, 3, 4, 5, 6, 50].map((n) => fetchRetryDelayMs(n, true))).toEqual([250, 500, 1000, 2000, 4000, 5000, 5000]);
  });

  test("a loop whose fetch failed transiently fetches again at once, and backs off while failures persist", async () => {
    const calls: number[] = [];
    let failuresLeft = 1;
    let secondStreak: (() => void) | null = null;
    const streakDone = new Promise<void>((r) => (secondStreak = r));
    const loops = new DispatchLoops<string>({
      name: "test",
      concurrency: 1,
      pollIntervalMs: 10,
      logger: { log() {} },
      fetch: async () => {
        calls.push(performance.now());
        if (failuresLeft > 0) {
          failuresLeft--;
          throw unavailable();
        }
        if (calls.length === 2) {
          // The first blip is over: now a streak of 6 failures.
          failuresLeft = 6;
          return null;
        }
        if (calls.length >= 9) secondStreak?.();
        return null;
      },
      process: async () => {},
      release: async () => {},
    });
    loops.start();
    await streakDone;
    await loops.shutdown();
    // Before this fix the first retry waited 100 ms.
    expect(calls[1]! - calls[0]!).toBeLessThan(50);
    // Six failures in a row: 0 + 10 + 20 + 40 + 80 + 160 ms of back-off, not a busy loop.
    expect(calls[8]! - calls[2]!).toBeGreaterThanOrEqual(280);
  });
});

describe("FetchFailureLog", () => {
  test("an outage is reported once, summarised once per period while it lasts, and its end is reported", () => {
    const lines: Line[] = [];
    let now = 0;
    const log = new FetchFailureLog("orch-x", { log: (level, message) => lines.push({ level, message }) }, 30_000, () => now);
    const closed = ProviderError.closed("fetchOrchestrationItem");
    for (now = 0; now <= 95_000; now += 1_000) log.failed(0, closed, 5_000);
    expect(lines.map((l) => l.level)).toEqual(["error", "error", "error", "error"]);
    expect(lines[0]!.message).toContain("orch-x: fetch failed on slot 0 (Closed, not retryable: the provider is closed)");
    expect(lines[0]!.message).toContain("summarised every 30 s");
    expect(lines[1]!.message).toContain("fetches still failing: 31 failures in 30 s");
    log.succeeded();
    expect(lines.at(-1)).toEqual({ level: "info", message: "orch-x: fetches work again after 96 failures over 96000 ms" });
  });

  test("blips (a failure now and then) cost one line per period, which counts the ones held back", () => {
    const lines: Line[] = [];
    let now = 0;
    const log = new FetchFailureLog("work-x", { log: (level, message) => lines.push({ level, message }) }, 30_000, () => now);
    for (now = 0; now < 60_000; now += 500) {
      log.failed(1, unavailable(), 0);
      log.succeeded();
    }
    // The first blip (and its end), then one line at 30 s that counts the 59 blips in between (and its end).
    expect(lines.length).toBe(4);
    expect(lines[0]!.level).toBe("warn");
    expect(lines[2]!.message).toContain("59 more failed fetches since the last report");
  });
});

describe("a runtime whose provider refuses every fetch", () => {
  test("a closed provider is reported once per dispatcher (not once per slot and retry) and the loops back off to seconds", async () => {
    const inner = await SqliteProvider.inMemory();
    const counted = new FaultInjectingProvider(inner, { rate: 0 });
    const logger = recordingLogger();
    const rt = await Runtime.start(counted, ActivityRegistry.builder().build(), OrchestrationRegistry.builder().build(), {
      orchestrationConcurrency: 2,
      workerConcurrency: 2,
      logger,
      logLevel: "debug",
    });
    inner.close();
    const before = counted.stats();
    const fetchesBefore = (before.byMethod.fetchOrchestrationItem?.calls ?? 0) + (before.byMethod.fetchWorkItem?.calls ?? 0);
    await Bun.sleep(1_600);
    const after = counted.stats();
    const fetches = (after.byMethod.fetchOrchestrationItem?.calls ?? 0) + (after.byMethod.fetchWorkItem?.calls ?? 0) - fetchesBefore;
    await rt.shutdown(100);
    const failures = logger.lines.filter((l) => l.level === "warn" || l.level === "error");
    // Before this fix: one line per slot per retry (16 lines in 1.6 s with 4 slots).
    expect(failures.map((l) => l.level)).toEqual(["error", "error"]);
    expect(failures.every((l) => /fetch failed .*Closed.*fix it or shut the runtime down/.test(l.message))).toBe(true);
    // 250 + 500 + 1000 ms: at most 4 tries per slot in 1.6 s.
    expect(fetches).toBeLessThanOrEqual(4 * 4);
  });

  test("fetching that fails for a while is reported once and its recovery is reported; the instance then completes", async () => {
    const inner = await SqliteProvider.inMemory();
    const faulty = new FaultInjectingProvider(inner, { rates: { fetchOrchestrationItem: 1, fetchWorkItem: 1 }, modes: ["permanent"], seed: 1 });
    const logger = recordingLogger();
    const rt = await Runtime.start(
      faulty,
      ActivityRegistry.builder().register("Echo", async (_ctx, x: string) => x).build(),
      OrchestrationRegistry.builder()
        .register("Flow", function* (ctx, x: string) {
          return yield* ctx.scheduleActivity<string>("Echo", x);
        })
        .build(),
      { orchestrationConcurrency: 1, workerConcurrency: 1, dispatcherPollIntervalMs: 10, logger, logLevel: "debug" },
    );
    try {
      const client = new Client(inner);
      await client.startOrchestration("f-1", "Flow", "hi");
      await logger.next(/orch-.*fetch failed/);
      faulty.setEnabled(false);
      const status = await client.waitForOrchestration("f-1", { timeoutMs: 10_000 });
      expect(status).toEqual(expect.objectContaining({ status: "Completed", output: "hi" }));
      const recovered = await logger.next(/orch-.*fetches work again after \d+ failures? over \d+ ms/);
      expect(recovered.level).toBe("info");
      expect(logger.lines.filter((l) => l.level === "error" && /orch-/.test(l.message)).length).toBe(1);
    } finally {
      await rt.shutdown(100);
      inner.close();
    }
  });
});

describe("completion acks that fail transiently", () => {
  test("a worker's completion ack that failed with a retryable error is retried within tens of ms", async () => {
    const inner = await SqliteProvider.inMemory();
    const ackTimes: number[] = [];
    // Fails the first completion ack only, before it reaches the store.
    const provider = new Proxy(inner, {
      get(target, key) {
        if (key !== "ackWorkItem") return Reflect.get(target, key, target);
        return async (token: string, completion: unknown) => {
          ackTimes.push(performance.now());
          if (ackTimes.length === 1) throw ProviderError.unavailable("ackWorkItem", "busy");
          return target.ackWorkItem(token, completion as never);
        };
      },
    }) as Provider;
    const rt = await Runtime.start(
      provider,
      ActivityRegistry.builder().register("Echo", async (_ctx, x: string) => x).build(),
      OrchestrationRegistry.builder()
        .register("Flow", function* (ctx, x: string) {
          return yield* ctx.scheduleActivity<string>("Echo", x);
        })
        .build(),
      { logLevel: "off" },
    );
    try {
      const client = new Client(provider);
      await client.startOrchestration("a-1", "Flow", "x");
      expect(await client.waitForOrchestration("a-1", { timeoutMs: 10_000 })).toEqual(expect.objectContaining({ status: "Completed", output: "x" }));
      expect(ackTimes.length).toBe(2);
      // Before this fix the retry waited 100 ms (then 400 ms, then 1 s).
      expect(ackTimes[1]! - ackTimes[0]!).toBeLessThan(60);
    } finally {
      await rt.shutdown(100);
      inner.close();
    }
  });
});

describe("recovery from transient provider faults", () => {
  test("100 mixed instances (fan-out, timer, sub-orchestration, event) with 5 % of the runtime's provider calls failing finish in about the fault-free time", async () => {
    const batch = async (rate: number, instances: number, seed: number) => {
      const inner = await SqliteProvider.inMemory();
      const faulty = new FaultInjectingProvider(inner, { rate, modes: ["retryable-before"], seed });
      try {
        return await runMixedBatch({ provider: inner, runtimeProvider: faulty, instances });
      } finally {
        inner.close();
      }
    };
    await batch(0, 20, 1); // warm-up: JIT and statement caches, not measured
    const healthy = await batch(0, 100, 1);
    const faulty = await batch(0.05, 100, 42);
    for (const r of [healthy, faulty]) {
      expect(r.problems).toEqual([]);
      expect(r.completed).toBe(100);
    }
    const ratio = faulty.elapsedMs / healthy.elapsedMs;
    console.log(`mixed workload, 100 instances: healthy ${healthy.elapsedMs.toFixed(0)} ms, 5 % transient faults ${faulty.elapsedMs.toFixed(0)} ms, ratio ${ratio.toFixed(2)}x`);
    // The target is at most 3x (scripts/fault_recovery.ts measures it: about 1.3x). Before this fix
    // the faulty run spent 1.2-2 s more, asleep (100 ms per failed fetch, 100 ms to 1 s per failed
    // ack): 5-8x. The bound (2x plus 300 ms) keeps that apart from a merely loaded machine.
    expect(faulty.elapsedMs).toBeLessThanOrEqual(2 * healthy.elapsedMs + 300);
  });
});
