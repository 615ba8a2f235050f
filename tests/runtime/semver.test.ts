// One version rule for every entry point: the client, the registry and the orchestration context
// accept exactly the same strings ("MAJOR.MINOR.PATCH", no pre-release or build suffix), and
// whatever the client accepts, a registry that registered it resolves. A start can therefore
// never sit backing off as "unregistered" just because the two sides parse versions differently.
import { afterEach, describe, expect, test } from "bun:test";
import { Client } from "../../src/client.ts";
import { ClientError, ConfigurationError } from "../../src/core/errors.ts";
import { compareSemver, formatSemver, parseSemver, tryParseSemver } from "../../src/core/semver.ts";
import type { WorkItem } from "../../src/core/work-items.ts";
import type { Provider } from "../../src/provider.ts";
import { SqliteProvider } from "../../src/providers/sqlite.ts";
import type { OrchestrationContext } from "../../src/runtime/context.ts";
import { resolveRuntimeOptions, RUNTIME_VERSION } from "../../src/runtime/options.ts";
import { planTurn } from "../../src/runtime/orchestration-turn.ts";
import { ActivityRegistry, OrchestrationRegistry } from "../../src/runtime/registry.ts";
import { Runtime } from "../../src/runtime/runtime.ts";
import { replayHistory } from "../../src/testing.ts";

const ACCEPTED = ["0.0.0", "0.0.1", "1.0.0", "1.2.3", "1.10.0", "10.20.30"];
const REFUSED = [
  "1.0.0-rc.1",
  "1.0.0-alpha",
  "1.0.0+build.1",
  "1.0.0-rc.1+build.1",
  "v1.0.0",
  "1.0",
  "1",
  "1.0.0.0",
  " 1.0.0",
  "1.0.0 ",
  "01.0.0",
  "1.00.0",
  "",
  "a.b.c",
  "1.0.x",
  "99999999999999999999.0.0",
];

/** A provider stand-in that records what the client enqueues (the client needs nothing else here). */
function recordingProvider(): { provider: Provider; enqueued: WorkItem[] } {
  const enqueued: WorkItem[] = [];
  const provider = {
    name: () => "recording",
    enqueueForOrchestrator: async (item: WorkItem) => void enqueued.push(item),
    read: async () => [],
    readWithExecution: async () => [],
    getCustomStatus: async () => null,
    getKvValue: async () => null,
    getKvAllValues: async () => ({}),
    asManagementCapability: () => null,
  } as unknown as Provider;
  return { provider, enqueued };
}

async function clientAccepts(version: string): Promise<boolean> {
  const { provider, enqueued } = recordingProvider();
  try {
    await new Client(provider).startOrchestrationVersioned("i", "Order", version, null);
  } catch (err) {
    expect(err).toBeInstanceOf(ClientError);
    expect((err as ClientError).code).toBe("InvalidInput");
    expect((err as Error).message).toContain("no \"v\" prefix, pre-release or build suffix");
    expect(enqueued).toEqual([]); // refused before anything reached the provider
    return false;
  }
  expect(enqueued).toMatchObject([{ type: "StartOrchestration", version }]);
  return true;
}

function registryAccepts(version: string): boolean {
  try {
    OrchestrationRegistry.builder().registerVersioned("Order", version, function* () {});
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigurationError);
    return false;
  }
  return true;
}

/** Whether a sub-orchestration, a detached start and a continue-as-new with `version` are all recorded (true) or all refused (false). */
function contextAccepts(version: string): boolean {
  const started = {
    event_id: 1,
    source_event_id: null,
    instance_id: "p",
    execution_id: 1,
    timestamp_ms: 1,
    duroxide_version: RUNTIME_VERSION,
    type: "OrchestrationStarted" as const,
    name: "Parent",
    version: "1.0.0",
    input: "null",
    parent_instance: null,
    parent_id: null,
  };
  const outcomes = [
    (ctx: OrchestrationContext) => ctx.scheduleSubOrchestration("Order", null, { version }),
    (ctx: OrchestrationContext) => {
      ctx.scheduleOrchestration("Order", "detached", null, { version });
      return ctx.scheduleTimer(1_000);
    },
    (ctx: OrchestrationContext) => ctx.continueAsNew(null, { version }),
  ].map((call) => {
    const out = replayHistory(function* (ctx) {
      return yield* call(ctx);
    }, [started]);
    if (out.outcome.type === "Failed") {
      expect(out.outcome.details).toMatchObject({ kind: "Panicked" });
      expect((out.outcome.details as { message: string }).message).toContain("version must be \"MAJOR.MINOR.PATCH\"");
      return false;
    }
    return true;
  });
  expect(new Set(outcomes).size).toBe(1);
  return outcomes[0]!;
}

describe("one version rule", () => {
  test("the parser accepts exactly MAJOR.MINOR.PATCH, and every accepted string is canonical", () => {
    for (const v of ACCEPTED) expect(formatSemver(parseSemver(v))).toBe(v);
    for (const v of REFUSED) expect(tryParseSemver(v)).toBeUndefined();
    expect(() => parseSemver("1.0.0-rc.1")).toThrow("pre-release");
    expect(tryParseSemver(1)).toBeUndefined();
  });

  test("client, registry and orchestration context agree on every candidate", async () => {
    for (const v of [...ACCEPTED, ...REFUSED]) {
      const expected = ACCEPTED.includes(v);
      expect({ v, client: await clientAccepts(v) }).toEqual({ v, client: expected });
      expect({ v, registry: registryAccepts(v) }).toEqual({ v, registry: expected });
      expect({ v, context: contextAccepts(v) }).toEqual({ v, context: expected });
    }
  });

  test("setPolicy Exact follows the same rule", () => {
    expect(() => OrchestrationRegistry.builder().register("O", function* () {}).setPolicy("O", { type: "Exact", version: "1.0.0-rc.1" })).toThrow(ConfigurationError);
  });

  test("every version the client accepts is resolved by a registry that registered it (no unregistered backoff)", async () => {
    const handlers = new Map(ACCEPTED.map((v) => [v, function* () { return v; }]));
    const sorted = [...ACCEPTED].sort((a, b) => compareSemver(parseSemver(a), parseSemver(b)));
    let builder = OrchestrationRegistry.builder();
    for (const v of sorted) builder = builder.registerVersioned("Order", v, handlers.get(v)!);
    const registry = builder.build();
    const options = resolveRuntimeOptions({ logLevel: "off" });
    for (const v of ACCEPTED) {
      expect(registry.resolveExact("Order", v)).toBe(handlers.get(v)!);
      const { provider, enqueued } = recordingProvider();
      await new Client(provider).startOrchestrationVersioned(`i-${v}`, "Order", v, null);
      const decision = planTurn(
        {
          item: {
            instance: `i-${v}`,
            orchestration_name: "Order",
            execution_id: 1,
            version: v,
            history: [],
            messages: enqueued,
            history_error: null,
            kv_snapshot: {},
          },
          lockToken: "t",
          attemptCount: 1,
        },
        { registry, options, now: 1, runtimeVersion: RUNTIME_VERSION },
      );
      expect(decision).toMatchObject({ type: "ack", outcome: { type: "Completed", output: JSON.stringify(v) } });
    }
  });
});

describe("one version rule, through a running runtime", () => {
  let stop: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await stop?.();
    stop = undefined;
  });

  async function start(): Promise<Client> {
    const provider = await SqliteProvider.inMemory();
    const orchestrations = OrchestrationRegistry.builder()
      .registerVersioned("Order", "1.0.0", function* (ctx) {
        return ctx.orchestrationVersion;
      })
      .registerVersioned("Order", "1.1.0", function* (ctx) {
        return ctx.orchestrationVersion;
      })
      .register("Parent", function* (ctx, version: string) {
        return yield* ctx.scheduleSubOrchestration<string>("Order", null, { version });
      })
      .build();
    const rt = await Runtime.start(provider, ActivityRegistry.empty(), orchestrations, { logLevel: "off", dispatcherPollIntervalMs: 10 });
    stop = async () => {
      await rt.shutdown(100);
      await provider.close();
    };
    return new Client(provider);
  }

  test("a pinned start runs exactly that version; a pre-release start is refused before it is enqueued", async () => {
    const client = await start();
    await client.startOrchestrationVersioned("pinned", "Order", "1.0.0");
    expect(await client.waitForOrchestration("pinned", { timeoutMs: 5_000 })).toMatchObject({ status: "Completed", output: "1.0.0" });

    const err = await client.startOrchestrationVersioned("rc", "Order", "1.0.0-rc.1").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ClientError);
    expect((err as ClientError).code).toBe("InvalidInput");
    expect((err as Error).message).toContain('got "1.0.0-rc.1"');
    expect(await client.getOrchestrationStatus("rc")).toEqual({ status: "NotFound" });
  });

  test("a sub-orchestration pinned to a pre-release fails its parent at once instead of backing off", async () => {
    const client = await start();
    await client.startOrchestration("parent-ok", "Parent", "1.1.0");
    expect(await client.waitForOrchestration("parent-ok", { timeoutMs: 5_000 })).toMatchObject({ status: "Completed", output: "1.1.0" });

    await client.startOrchestration("parent-rc", "Parent", "1.1.0-rc.1");
    const status = await client.waitForOrchestration("parent-rc", { timeoutMs: 5_000 });
    expect(status.status).toBe("Failed");
    expect(status.status === "Failed" && status.message).toContain("version must be");
    expect(await client.getOrchestrationStatus("parent-rc::sub::2")).toEqual({ status: "NotFound" });
  });
});
