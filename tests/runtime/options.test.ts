import { describe, expect, spyOn, test } from "bun:test";
import { ConfigurationError } from "../../src/core/errors.ts";
import { TagFilter } from "../../src/core/queue-types.ts";
import { MAX_KV_KEYS, MAX_KV_VALUE_BYTES } from "../../src/runtime/kv-limits.ts";
import {
  MAX_DURATION_MS,
  RUNTIME_VERSION,
  checkShutdownTimeout,
  consoleLogger,
  renewalIntervalMs,
  resolveRuntimeOptions,
  unregisteredBackoffMs,
  type LogLevel,
  type Logger,
  type RuntimeOptions,
} from "../../src/runtime/options.ts";

function expectConfigError(opts: unknown, ...fragments: string[]): ConfigurationError {
  let caught: unknown;
  try {
    resolveRuntimeOptions(opts as RuntimeOptions);
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(ConfigurationError);
  const err = caught as ConfigurationError;
  for (const f of fragments) expect(err.message).toContain(f);
  return err;
}

describe("resolveRuntimeOptions defaults", () => {
  test("no options gives every default", () => {
    const o = resolveRuntimeOptions();
    expect(o.orchestrationConcurrency).toBe(2);
    expect(o.workerConcurrency).toBe(2);
    expect(o.dispatcherPollIntervalMs).toBe(100);
    expect(o.dispatcherLongPollTimeoutMs).toBe(30_000);
    expect(o.orchestratorLockTimeoutMs).toBe(5_000);
    expect(o.orchestratorLockRenewalBufferMs).toBe(2_000);
    expect(o.workerLockTimeoutMs).toBe(30_000);
    expect(o.workerLockRenewalBufferMs).toBe(5_000);
    expect(o.maxAttempts).toBe(10);
    expect(o.unregisteredBackoff).toEqual({ baseDelayMs: 1_000, maxDelayMs: 60_000 });
    expect(o.activityCancellationGracePeriodMs).toBe(10_000);
    expect(o.supportedReplayVersions).toEqual({
      min: { major: 0, minor: 0, patch: 0 },
      max: { major: 0, minor: 1, patch: 0 },
    });
    expect(o.sessionLockTimeoutMs).toBe(30_000);
    expect(o.sessionLockRenewalBufferMs).toBe(5_000);
    expect(o.sessionIdleTimeoutMs).toBe(300_000);
    expect(o.sessionCleanupIntervalMs).toBe(300_000);
    expect(o.maxSessionsPerRuntime).toBe(10);
    expect(o.workerNodeId).toBeUndefined();
    expect(o.workerTagFilter).toEqual({ type: "DefaultOnly" });
    expect(o.maxHistoryEvents).toBe(10_000);
    expect(o.maxPayloadBytes).toBe(1_048_576);
    expect(o.maxCustomStatusBytes).toBe(262_144);
    expect(o.maxKvKeys).toBe(150);
    expect(o.maxKvValueBytes).toBe(65_536);
    expect(o.maxTagBytes).toBe(256);
    expect(o.logLevel).toBe("info");
    expect(typeof o.logger.log).toBe("function");
  });

  test("RUNTIME_VERSION is 0.1.0", () => {
    expect(RUNTIME_VERSION).toBe("0.1.0");
  });

  test("empty object, null-ish and undefined values take defaults", () => {
    expect(resolveRuntimeOptions({}).maxAttempts).toBe(10);
    const o = resolveRuntimeOptions({ maxAttempts: undefined, workerNodeId: undefined, logger: undefined });
    expect(o.maxAttempts).toBe(10);
    expect(o.workerNodeId).toBeUndefined();
  });

  test("given values are kept", () => {
    const o = resolveRuntimeOptions({
      orchestrationConcurrency: 8,
      workerConcurrency: 16,
      dispatcherPollIntervalMs: 5,
      dispatcherLongPollTimeoutMs: 0,
      orchestratorLockTimeoutMs: 1_000,
      orchestratorLockRenewalBufferMs: 0,
      workerLockTimeoutMs: 2_000,
      workerLockRenewalBufferMs: 500,
      maxAttempts: 1,
      unregisteredBackoff: { baseDelayMs: 10 },
      activityCancellationGracePeriodMs: 0,
      supportedReplayVersions: { min: { major: 0, minor: 1, patch: 0 }, max: { major: 2, minor: 0, patch: 0 } },
      sessionLockTimeoutMs: 1_000,
      sessionLockRenewalBufferMs: 0,
      sessionIdleTimeoutMs: 5_000,
      sessionCleanupIntervalMs: 1_000,
      maxSessionsPerRuntime: 1,
      workerNodeId: "node-a",
      workerTagFilter: TagFilter.defaultAnd("gpu", "big"),
      maxHistoryEvents: 50,
      maxPayloadBytes: 1_000,
      maxCustomStatusBytes: 100,
      maxKvKeys: 3,
      maxKvValueBytes: 10,
      maxTagBytes: 16,
      logLevel: "debug",
    });
    expect(o.orchestrationConcurrency).toBe(8);
    expect(o.workerConcurrency).toBe(16);
    expect(o.dispatcherPollIntervalMs).toBe(5);
    expect(o.dispatcherLongPollTimeoutMs).toBe(0);
    expect(o.maxAttempts).toBe(1);
    expect(o.unregisteredBackoff).toEqual({ baseDelayMs: 10, maxDelayMs: 60_000 });
    expect(o.activityCancellationGracePeriodMs).toBe(0);
    expect(o.supportedReplayVersions.max).toEqual({ major: 2, minor: 0, patch: 0 });
    expect(o.sessionIdleTimeoutMs).toBe(5_000);
    expect(o.workerNodeId).toBe("node-a");
    expect(o.workerTagFilter.type).toBe("DefaultAnd");
    expect([...(o.workerTagFilter as { tags: ReadonlySet<string> }).tags]).toEqual(["gpu", "big"]);
    expect(o.maxTagBytes).toBe(16);
    expect(o.logLevel).toBe("debug");
  });

  test("every tag filter kind is accepted", () => {
    for (const f of [TagFilter.defaultOnly(), TagFilter.any(), TagFilter.none(), TagFilter.tags("a"), TagFilter.tags("a", "b", "c", "d", "e")]) {
      expect(resolveRuntimeOptions({ workerTagFilter: f }).workerTagFilter.type).toBe(f.type);
    }
  });

  test("resolved tag set is a copy", () => {
    const f = TagFilter.tags("a");
    const o = resolveRuntimeOptions({ workerTagFilter: f });
    (f as unknown as { tags: Set<string> }).tags.add("b");
    expect([...(o.workerTagFilter as { tags: ReadonlySet<string> }).tags]).toEqual(["a"]);
  });
});

describe("resolveRuntimeOptions validation", () => {
  test("non-object options", () => {
    expectConfigError(42, "RuntimeOptions must be an object");
    expectConfigError([], "RuntimeOptions must be an object");
  });

  test("unknown keys are rejected, with a suggestion for typos", () => {
    expectConfigError({ orchestratorConcurrency: 2 }, "orchestratorConcurrency", 'did you mean "orchestrationConcurrency"');
    expectConfigError({ workerLockTimeout: 1000 }, "workerLockTimeout", "workerLockTimeoutMs");
    const err = expectConfigError({ totallyUnrelatedThing: 1 }, '"totallyUnrelatedThing"');
    expect(err.message).not.toContain("did you mean");
  });

  const positive = [
    "dispatcherPollIntervalMs",
    "orchestratorLockTimeoutMs",
    "workerLockTimeoutMs",
    "maxAttempts",
    "sessionLockTimeoutMs",
    "sessionIdleTimeoutMs",
    "sessionCleanupIntervalMs",
    "maxSessionsPerRuntime",
    "maxHistoryEvents",
    "maxPayloadBytes",
    "maxCustomStatusBytes",
    "maxKvKeys",
    "maxKvValueBytes",
    "maxTagBytes",
  ];
  const nonNegative = [
    "orchestrationConcurrency",
    "workerConcurrency",
    "dispatcherLongPollTimeoutMs",
    "orchestratorLockRenewalBufferMs",
    "workerLockRenewalBufferMs",
    "activityCancellationGracePeriodMs",
    "sessionLockRenewalBufferMs",
  ];

  for (const key of positive) {
    test(`${key} must be a positive integer`, () => {
      for (const bad of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, "3", null, true]) {
        expectConfigError({ [key]: bad }, key, "positive integer", String(bad === "3" ? '"3"' : bad));
      }
    });
  }
  for (const key of nonNegative) {
    test(`${key} must be a non-negative integer`, () => {
      expect(() => resolveRuntimeOptions({ [key]: 0 })).not.toThrow();
      for (const bad of [-1, 0.5, Number.NaN, "10"]) expectConfigError({ [key]: bad }, key, "non-negative integer");
    });
  }

  test("unregisteredBackoff shape", () => {
    expectConfigError({ unregisteredBackoff: 5 }, "unregisteredBackoff must be an object");
    expectConfigError({ unregisteredBackoff: { baseDelayMs: -1 } }, "unregisteredBackoff.baseDelayMs", "-1");
    expectConfigError({ unregisteredBackoff: { maxDelayMs: 1.5 } }, "unregisteredBackoff.maxDelayMs", "1.5");
    expectConfigError({ unregisteredBackoff: { baseDelay: 1 } }, "unknown unregisteredBackoff key", "baseDelay");
    expectConfigError({ unregisteredBackoff: { baseDelayMs: 5000, maxDelayMs: 1000 } }, "unregisteredBackoff.maxDelayMs", "1000", "5000");
  });

  test("supportedReplayVersions shape and order", () => {
    expectConfigError({ supportedReplayVersions: "0.1.0" }, "supportedReplayVersions");
    expectConfigError(
      { supportedReplayVersions: { min: { major: 0, minor: 0, patch: 0 } } },
      "supportedReplayVersions.max",
      "undefined",
    );
    expectConfigError(
      { supportedReplayVersions: { min: { major: -1, minor: 0, patch: 0 }, max: { major: 1, minor: 0, patch: 0 } } },
      "supportedReplayVersions.min",
    );
    expectConfigError(
      { supportedReplayVersions: { min: { major: 2, minor: 0, patch: 0 }, max: { major: 1, minor: 9, patch: 9 } } },
      "supportedReplayVersions.min (2.0.0)",
      "supportedReplayVersions.max (1.9.9)",
    );
    const same = { major: 1, minor: 2, patch: 3 };
    expect(resolveRuntimeOptions({ supportedReplayVersions: { min: same, max: same } }).supportedReplayVersions.min).toEqual(same);
  });

  test("workerNodeId must be a non-empty string", () => {
    expectConfigError({ workerNodeId: "" }, "workerNodeId");
    expectConfigError({ workerNodeId: "   " }, "workerNodeId");
    expectConfigError({ workerNodeId: 7 }, "workerNodeId", "7");
  });

  test("workerTagFilter shape", () => {
    expectConfigError({ workerTagFilter: "gpu" }, "workerTagFilter");
    expectConfigError({ workerTagFilter: { type: "Some" } }, "workerTagFilter", '"Some"');
    expectConfigError({ workerTagFilter: TagFilter.tags() }, "workerTagFilter", "1 to 5 tags", "got 0");
    expectConfigError({ workerTagFilter: TagFilter.defaultAnd() }, "workerTagFilter", "1 to 5 tags");
    expectConfigError({ workerTagFilter: TagFilter.tags("a", "b", "c", "d", "e", "f") }, "workerTagFilter", "got 6");
    expectConfigError({ workerTagFilter: TagFilter.tags("a", "") }, "workerTagFilter", "non-empty strings");
    expectConfigError({ workerTagFilter: { type: "Tags", tags: "a" } }, "workerTagFilter", "Set of tags");
    expectConfigError({ workerTagFilter: { type: "Tags", tags: new Set([1]) } }, "workerTagFilter", "non-empty strings");
    expectConfigError({ workerTagFilter: TagFilter.tags("x".repeat(257)) }, "workerTagFilter", "maxTagBytes", "257");
    expectConfigError({ workerTagFilter: TagFilter.tags("abcde"), maxTagBytes: 4 }, "maxTagBytes", "5 bytes");
  });

  test("logLevel and logger", () => {
    expectConfigError({ logLevel: "verbose" }, "logLevel", '"verbose"');
    expectConfigError({ logLevel: "toString" }, "logLevel");
    expectConfigError({ logger: {} }, "logger", "log(level, message, fields)");
    expectConfigError({ logger: console.log }, "logger");
    expect(resolveRuntimeOptions({ logLevel: "off" }).logLevel).toBe("off");
  });

  test("sessionIdleTimeoutMs must exceed workerLockTimeoutMs − workerLockRenewalBufferMs", () => {
    // 30 s − 5 s = 25 s: 25 s is rejected, 25 s + 1 ms accepted.
    expectConfigError({ sessionIdleTimeoutMs: 25_000 }, "sessionIdleTimeoutMs (25000)", "workerLockTimeoutMs", "workerLockRenewalBufferMs", "25000");
    expectConfigError({ sessionIdleTimeoutMs: 1_000 }, "sessionIdleTimeoutMs");
    expect(resolveRuntimeOptions({ sessionIdleTimeoutMs: 25_001 }).sessionIdleTimeoutMs).toBe(25_001);
    expectConfigError({ workerLockTimeoutMs: 400_000 }, "sessionIdleTimeoutMs (300000)", "395000");
    expect(resolveRuntimeOptions({ workerLockTimeoutMs: 400_000, workerLockRenewalBufferMs: 200_000 }).workerLockTimeoutMs).toBe(400_000);
  });

  test("orchestrationConcurrency and workerConcurrency: either may be 0 (worker-only / orchestration-only), not both", () => {
    expect(resolveRuntimeOptions({ orchestrationConcurrency: 0 }).orchestrationConcurrency).toBe(0);
    expect(resolveRuntimeOptions({ workerConcurrency: 0 }).workerConcurrency).toBe(0);
    expectConfigError({ orchestrationConcurrency: 0, workerConcurrency: 0 }, "both 0", "worker-only", "orchestration-only");
  });

  test("every duration option (…Ms) takes integers up to 2^31−1, the longest a timer can wait", () => {
    const durations = Object.keys(resolveRuntimeOptions()).filter((k) => k.endsWith("Ms"));
    expect(durations.length).toBeGreaterThan(10);
    for (const key of durations) {
      // The largest value is accepted on its own (the session idle rule aside)...
      if (key !== "workerLockTimeoutMs") expect(() => resolveRuntimeOptions({ [key]: MAX_DURATION_MS, sessionIdleTimeoutMs: MAX_DURATION_MS })).not.toThrow();
      // ...one more is refused with the range, not turned into a ~1 ms timer.
      expectConfigError({ [key]: MAX_DURATION_MS + 1 }, key, "2147483647", "2^31−1");
      expectConfigError({ [key]: 2 ** 40 }, key);
    }
    expectConfigError({ unregisteredBackoff: { maxDelayMs: 2 ** 31 } }, "unregisteredBackoff.maxDelayMs", "2147483647");
    // Counts and sizes are not durations: they keep the safe-integer range.
    expect(resolveRuntimeOptions({ maxHistoryEvents: 2 ** 40 }).maxHistoryEvents).toBe(2 ** 40);
  });

  test("the KV limits default to the original's MAX_KV_KEYS (150) and MAX_KV_VALUE_BYTES (64 KiB), and still override", () => {
    expect(MAX_KV_KEYS).toBe(150);
    expect(MAX_KV_VALUE_BYTES).toBe(64 * 1024);
    const o = resolveRuntimeOptions({ maxKvKeys: 3, maxKvValueBytes: 10 });
    expect([o.maxKvKeys, o.maxKvValueBytes]).toEqual([3, 10]);
  });
});

describe("checkShutdownTimeout", () => {
  test("accepts integers 0..2^31−1 and refuses the rest with a ConfigurationError naming the range", () => {
    for (const ok of [0, 1, 1_000, MAX_DURATION_MS]) expect(() => checkShutdownTimeout(ok)).not.toThrow();
    for (const bad of [-1, 0.5, 2 ** 31, Number.NaN, Number.POSITIVE_INFINITY, "1000", null]) {
      expect(() => checkShutdownTimeout(bad)).toThrow(ConfigurationError);
      expect(() => checkShutdownTimeout(bad)).toThrow(/shutdown timeoutMs must be an integer .* 0 to 2147483647/);
    }
  });
});

describe("renewalIntervalMs", () => {
  test("timeouts ≥ 15 s renew buffer before expiry", () => {
    expect(renewalIntervalMs(30_000, 5_000)).toBe(25_000);
    expect(renewalIntervalMs(15_000, 5_000)).toBe(10_000);
    expect(renewalIntervalMs(20_000, 0)).toBe(20_000);
    // buffer ≥ timeout clamps to the 1 s floor
    expect(renewalIntervalMs(30_000, 30_000)).toBe(1_000);
    expect(renewalIntervalMs(30_000, 60_000)).toBe(1_000);
    expect(renewalIntervalMs(16_000, 15_500)).toBe(1_000);
  });

  test("timeouts < 15 s renew at half, rounded up to whole seconds, at least 1 s (buffer ignored)", () => {
    expect(renewalIntervalMs(5_000, 2_000)).toBe(3_000);
    expect(renewalIntervalMs(5_000, 0)).toBe(3_000);
    expect(renewalIntervalMs(10_000, 9_000)).toBe(5_000);
    expect(renewalIntervalMs(14_999, 0)).toBe(8_000);
    expect(renewalIntervalMs(4_000, 0)).toBe(2_000);
    expect(renewalIntervalMs(2_500, 0)).toBe(2_000);
  });

  test("leases of 2 s or less renew at half the lease, never at or after expiry", () => {
    expect(renewalIntervalMs(2_000, 0)).toBe(1_000);
    expect(renewalIntervalMs(1_000, 500)).toBe(500);
    expect(renewalIntervalMs(500, 0)).toBe(250);
    expect(renewalIntervalMs(1, 0)).toBe(1);
  });
});

describe("unregisteredBackoffMs", () => {
  test("default sequence 1, 2, 4, 8, 16, 32, 60, 60 s", () => {
    const seq = [1, 2, 3, 4, 5, 6, 7, 8, 20].map((n) => unregisteredBackoffMs(n, { baseDelayMs: 1_000, maxDelayMs: 60_000 }));
    expect(seq).toEqual([1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000, 60_000]);
    expect(unregisteredBackoffMs(3)).toBe(4_000);
  });

  test("exponent stops at 6 even without a cap", () => {
    const b = { baseDelayMs: 10, maxDelayMs: 1_000_000 };
    expect(unregisteredBackoffMs(7, b)).toBe(640);
    expect(unregisteredBackoffMs(100, b)).toBe(640);
  });

  test("attempt below 1 counts as the first", () => {
    expect(unregisteredBackoffMs(0, { baseDelayMs: 100, maxDelayMs: 1000 })).toBe(100);
    expect(unregisteredBackoffMs(-5, { baseDelayMs: 100, maxDelayMs: 1000 })).toBe(100);
  });

  test("resolved options feed it directly", () => {
    const o = resolveRuntimeOptions({ unregisteredBackoff: { baseDelayMs: 50, maxDelayMs: 150 } });
    expect([1, 2, 3].map((n) => unregisteredBackoffMs(n, o.unregisteredBackoff))).toEqual([50, 100, 150]);
  });
});

describe("logging", () => {
  test("consoleLogger honors its level", () => {
    const spies = {
      debug: spyOn(console, "debug").mockImplementation(() => {}),
      info: spyOn(console, "info").mockImplementation(() => {}),
      warn: spyOn(console, "warn").mockImplementation(() => {}),
      error: spyOn(console, "error").mockImplementation(() => {}),
    };
    try {
      const log = consoleLogger("warn");
      for (const lvl of ["debug", "info", "warn", "error"] as LogLevel[]) log.log(lvl, `m-${lvl}`, { instance: "i1" });
      expect(spies.debug).not.toHaveBeenCalled();
      expect(spies.info).not.toHaveBeenCalled();
      expect(spies.warn).toHaveBeenCalledTimes(1);
      expect(spies.error).toHaveBeenCalledTimes(1);
      expect(String(spies.warn.mock.calls[0]![0])).toContain("m-warn");
      // Pretty format: fields as key=value after the message (docs/runtime-semantics.md §10).
      expect(String(spies.warn.mock.calls[0]![0])).toContain("instance=i1");

      consoleLogger("off").log("error", "silent", {});
      expect(spies.error).toHaveBeenCalledTimes(1);
      consoleLogger("debug").log("debug", "loud", {});
      expect(spies.debug).toHaveBeenCalledTimes(1);
    } finally {
      for (const s of Object.values(spies)) s.mockRestore();
    }
  });

  test("default resolved logger is a console logger at logLevel", () => {
    const info = spyOn(console, "info").mockImplementation(() => {});
    try {
      resolveRuntimeOptions({ logLevel: "error" }).logger.log("info", "hidden", {});
      expect(info).not.toHaveBeenCalled();
      resolveRuntimeOptions().logger.log("info", "shown", {});
      expect(info).toHaveBeenCalledTimes(1);
    } finally {
      info.mockRestore();
    }
  });

  test("a custom logger receives lines at or above logLevel only", () => {
    const lines: [LogLevel, string, Record<string, unknown>][] = [];
    const logger: Logger = { log: (l, m, f) => lines.push([l, m, f]) };
    const o = resolveRuntimeOptions({ logger });
    o.logger.log("debug", "d", {});
    o.logger.log("info", "i", { a: 1 });
    o.logger.log("error", "e", {});
    expect(lines).toEqual([
      ["info", "i", { a: 1 }],
      ["error", "e", {}],
    ]);
    const all: string[] = [];
    resolveRuntimeOptions({ logger: { log: (_l, m) => all.push(m) }, logLevel: "debug" }).logger.log("debug", "d", {});
    expect(all).toEqual(["d"]);
  });
});
