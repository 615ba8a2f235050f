// activityTimeoutMs and slowActivityWarningMs (docs/runtime-semantics.md §1.5 step 5, §6): validated
// like the other durations; with no timeout set, a long-running activity is reported in the log.
import { describe, expect, test } from "bun:test";
import { ActivityRegistry, Client, OrchestrationRegistry, Runtime } from "../../src/index.ts";
import { ConfigurationError } from "../../src/core/errors.ts";
import { MemoryProvider } from "../../src/providers/memory.ts";
import { resolveRuntimeOptions, type LogLevel, type RuntimeOptions } from "../../src/runtime/options.ts";

describe("resolveRuntimeOptions: activity time limits", () => {
  test("defaults: no activity timeout, a warning after a minute", () => {
    const o = resolveRuntimeOptions();
    expect(o.activityTimeoutMs).toBe(0);
    expect(o.slowActivityWarningMs).toBe(60_000);
  });

  for (const key of ["activityTimeoutMs", "slowActivityWarningMs"] as const) {
    test(`${key} must be a non-negative integer (0 turns it off)`, () => {
      expect(resolveRuntimeOptions({ [key]: 0 })[key]).toBe(0);
      expect(resolveRuntimeOptions({ [key]: 250 })[key]).toBe(250);
      for (const bad of [-1, 0.5, Number.NaN, "10", null]) {
        expect(() => resolveRuntimeOptions({ [key]: bad } as unknown as RuntimeOptions)).toThrow(ConfigurationError);
        expect(() => resolveRuntimeOptions({ [key]: bad } as unknown as RuntimeOptions)).toThrow(`${key} must be a non-negative integer`);
      }
    });
  }
});

test("slowActivityWarningMs: an activity still running past it is logged at warn, naming it and activityTimeoutMs, again when its time doubles", async () => {
  const provider = await MemoryProvider.create();
  const lines: { level: LogLevel; message: string }[] = [];
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  const warned: (() => void)[] = [];
  const activities = ActivityRegistry.builder()
    .register("Slow", async () => {
      await released;
      return "slow done";
    })
    .build();
  const orchestrations = OrchestrationRegistry.builder()
    .register("RunsSlow", function* (ctx) {
      return yield* ctx.scheduleActivity("Slow", null);
    })
    .build();
  const rt = await Runtime.start(provider, activities, orchestrations, {
    logLevel: "warn",
    logger: {
      log: (level, message) => {
        lines.push({ level, message });
        if (message.includes("has been running")) warned.shift()?.();
      },
    },
    slowActivityWarningMs: 150,
    dispatcherPollIntervalMs: 20,
  });
  try {
    const twoWarnings = new Promise<void>((r) => warned.push(() => {}, r));
    const client = new Client(provider);
    await client.startOrchestration("slow-activity", "RunsSlow", null);
    await twoWarnings; // at 150 ms and at 300 ms
    release();
    expect(await client.waitForOrchestration("slow-activity", { timeoutMs: 5_000 })).toMatchObject({ status: "Completed", output: "slow done" });
    const warnings = lines.filter((l) => l.message.includes("has been running"));
    expect(warnings.length).toBe(2);
    expect(warnings[0]!.level).toBe("warn");
    expect(warnings[0]!.message).toContain('activity "Slow"');
    expect(warnings[0]!.message).toContain("slow-activity");
    expect(warnings[0]!.message).toContain("activityTimeoutMs");
  } finally {
    await rt.shutdown();
    provider.close();
  }
});
