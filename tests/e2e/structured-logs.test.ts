// Structured logs (docs/runtime-semantics.md §10): with logFormat "json" every line is one object
// carrying instance, execution, orchestration or activity name and attempt; replayed turns log
// nothing again; the runtime's own lines carry the same context.
import { afterEach, expect, spyOn, test } from "bun:test";
import { ActivityRegistry, Client, OrchestrationRegistry, Runtime, type Logger, type LogLevel } from "../../src/index.ts";
import { MemoryProvider } from "../../src/providers/memory.ts";

const OPTS = { dispatcherPollIntervalMs: 10, orchestrationConcurrency: 1, workerConcurrency: 1 };
const spies: { mockRestore(): void }[] = [];
afterEach(() => {
  for (const s of spies.splice(0)) s.mockRestore();
});

test("logFormat json: trace lines carry their context and replayed turns log nothing", async () => {
  const lines: string[] = [];
  for (const m of ["debug", "info", "warn", "error"] as const) spies.push(spyOn(console, m).mockImplementation((t: unknown) => void lines.push(String(t))));
  const activities = ActivityRegistry.builder()
    .register("Work", async (ctx, i: number) => {
      ctx.traceInfo(`working ${i}`);
      return i;
    })
    .build();
  const orchestrations = OrchestrationRegistry.builder()
    .register("Traced", function* (ctx) {
      // With the instance cache off every turn replays from the top: each line must still appear once.
      for (let i = 0; i < 3; i++) {
        ctx.traceInfo(`step ${i}`);
        yield* ctx.scheduleActivity("Work", i);
      }
      ctx.traceInfo("done");
    })
    .build();
  const provider = await MemoryProvider.create();
  const rt = await Runtime.start(provider, activities, orchestrations, { ...OPTS, logFormat: "json", logLevel: "info", instanceCacheSize: 0 });
  try {
    const client = new Client(provider);
    await client.startOrchestration("traced-1", "Traced", null);
    expect(await client.waitForOrchestration("traced-1", { timeoutMs: 5_000 })).toMatchObject({ status: "Completed" });
  } finally {
    await rt.shutdown();
    provider.close();
  }
  const objects = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  for (const o of objects) expect(typeof o.timestamp === "string" && typeof o.level === "string" && typeof o.message === "string").toBe(true);
  const byMessage = (m: string) => objects.filter((o) => o.message === m);
  for (const m of ["step 0", "step 1", "step 2", "done"]) {
    const found = byMessage(m);
    expect(found).toHaveLength(1);
    expect(found[0]).toMatchObject({ level: "info", instance_id: "traced-1", execution_id: 1, orchestration_name: "Traced", attempt: 1 });
    expect(typeof found[0]!.orchestration_version).toBe("string");
  }
  for (let i = 0; i < 3; i++) {
    const found = byMessage(`working ${i}`);
    expect(found).toHaveLength(1);
    expect(found[0]).toMatchObject({ instance_id: "traced-1", execution_id: 1, activity_name: "Work", orchestration_name: "Traced", attempt: 1 });
    expect(typeof found[0]!.activity_id).toBe("number");
  }
});

/** A logger whose lines can be awaited. */
function recordingLogger() {
  const lines: { level: LogLevel; message: string; fields: Record<string, unknown> }[] = [];
  const waiters: { match: (m: string) => boolean; resolve: (f: Record<string, unknown>) => void }[] = [];
  const logger: Logger = {
    log(level, message, fields) {
      lines.push({ level, message, fields });
      for (const w of waiters.splice(0)) {
        if (w.match(message)) w.resolve(fields);
        else waiters.push(w);
      }
    },
  };
  const next = (match: (m: string) => boolean) => {
    const seen = lines.find((l) => match(l.message));
    if (seen) return Promise.resolve(seen.fields);
    return new Promise<Record<string, unknown>>((resolve) => waiters.push({ match, resolve }));
  };
  return { logger, lines, next };
}

test("runtime lines about an activity or a turn carry its context", async () => {
  const rec = recordingLogger();
  const orchestrations = OrchestrationRegistry.builder()
    .register("NeedsMissing", function* (ctx) {
      yield* ctx.scheduleActivity("Missing", null);
    })
    .build();
  const provider = await MemoryProvider.create();
  const rt = await Runtime.start(provider, ActivityRegistry.builder().build(), orchestrations, {
    ...OPTS,
    logger: rec.logger,
    logLevel: "debug",
    unregisteredBackoff: { baseDelayMs: 10, maxDelayMs: 10 },
  });
  try {
    const client = new Client(provider);
    await client.startOrchestration("needs-1", "NeedsMissing", null);
    await client.startOrchestration("unknown-1", "NotRegistered", null);
    const activityLine = await rec.next((m) => m.startsWith('activity "Missing" is not registered'));
    expect(activityLine).toMatchObject({ instance_id: "needs-1", execution_id: 1, activity_name: "Missing", orchestration_name: "NeedsMissing", attempt: 1 });
    expect(typeof activityLine.activity_id).toBe("number");
    const turnLine = await rec.next((m) => m.includes('orchestration "NotRegistered"') && m.includes("is not registered here"));
    expect(turnLine).toMatchObject({ instance_id: "unknown-1", orchestration_name: "NotRegistered", attempt: 1 });
    expect(typeof turnLine.execution_id).toBe("number");
  } finally {
    await rt.shutdown();
    provider.close();
  }
});
