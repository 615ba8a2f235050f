// Client against SqliteProvider.inMemory() with no runtime: each test plays the runtime itself by
// fetching and acking orchestrator items (and notifying instanceSignals where a runtime would).
import { describe, expect, test } from "bun:test";
import { Client } from "../../src/client.ts";
import type { ErrorDetails } from "../../src/core/error-details.ts";
import { ClientError, ProviderError } from "../../src/core/errors.ts";
import type { Event } from "../../src/core/events.ts";
import type { ExecutionMetadata } from "../../src/core/queue-types.ts";
import type { WorkItem } from "../../src/core/work-items.ts";
import type { Provider } from "../../src/provider.ts";
import { SqliteProvider } from "../../src/providers/sqlite.ts";
import { instanceSignals } from "../../src/instance-signals.ts";
import {
  completedEvent,
  continueAsNewItem,
  continuedAsNewEvent,
  createCompletedInstance,
  createRunningInstance,
  customStatusEvent,
  event,
  externalRaisedItem,
  failedEvent,
  fetchOrch,
  kvSetEvent,
  startedEvent,
  terminalMeta,
} from "../../src/provider-tests/helpers.ts";

const LOCK_MS = 5_000;

async function setup(): Promise<{ p: SqliteProvider; client: Client }> {
  const p = await SqliteProvider.inMemory();
  return { p, client: new Client(p) };
}

/** One runtime turn for an existing instance: wake it with `item`, then ack `delta` as `executionId`. */
async function turn(p: Provider, instance: string, delta: Event[], metadata: ExecutionMetadata = {}, executionId = 1, item: WorkItem = externalRaisedItem(instance)): Promise<void> {
  await p.enqueueForOrchestrator(item, null);
  const f = await fetchOrch(p, LOCK_MS);
  expect(f.item.instance).toBe(instance);
  await p.ackOrchestrationItem(f.lockToken, executionId, delta, [], [], metadata, []);
}

/** Awaits `promise` and requires a ClientError with `code`; returns it for further checks. */
async function expectClientError(promise: Promise<unknown>, code: ClientError["code"], mentions?: string): Promise<ClientError> {
  let caught: unknown;
  try {
    await promise;
  } catch (err) {
    caught = err;
  }
  if (caught === undefined) throw new Error(`expected ClientError ${code}, but the call succeeded`);
  if (!(caught instanceof ClientError)) throw new Error(`expected ClientError ${code}, got ${String(caught)}`);
  expect(caught.code).toBe(code);
  if (mentions !== undefined) expect(caught.message).toContain(mentions);
  return caught;
}

/**
 * A view of `p` whose read() reports each completed call, so a test can act right after the
 * client's Nth status check, i.e. at a known point of its backoff schedule.
 */
function withReadHook(p: SqliteProvider): { spy: SqliteProvider; afterRead: (n: number) => Promise<void> } {
  // Counts status checks: each one starts with the management view of the instance.
  const spy = Object.create(p) as SqliteProvider;
  const admin = p.asManagementCapability();
  let reads = 0;
  const pending: { n: number; resolve: () => void }[] = [];
  const countedAdmin = Object.create(admin) as typeof admin;
  countedAdmin.getInstanceInfo = async (instance: string) => {
    reads++;
    for (const w of pending.filter((w) => w.n <= reads)) {
      pending.splice(pending.indexOf(w), 1);
      w.resolve();
    }
    return admin.getInstanceInfo(instance);
  };
  (spy as { asManagementCapability: () => typeof admin }).asManagementCapability = () => countedAdmin;
  const afterRead = (n: number) => (n <= reads ? Promise.resolve() : new Promise<void>((resolve) => pending.push({ n, resolve })));
  return { spy, afterRead };
}

const cancelledDetails: ErrorDetails = { type: "Application", kind: { Cancelled: { reason: "stop" } }, message: "", retryable: false };

// ---------------------------------------------------------------- construction

describe("new Client", () => {
  test("rejects values that are not providers", () => {
    for (const bad of [null, undefined, 42, "sqlite", {}, { read: () => [] }]) {
      let caught: unknown;
      try {
        new Client(bad as unknown as Provider);
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(ClientError);
      expect((caught as ClientError).code).toBe("InvalidInput");
      expect((caught as ClientError).message).toContain("Provider");
    }
  });
});

// ---------------------------------------------------------------- commands

describe("commands", () => {
  test("startOrchestration enqueues a StartOrchestration with the JSON input and no version", async () => {
    const { p, client } = await setup();
    await client.startOrchestration("i1", "Hello", { name: "Bun", n: [1, 2] });
    const f = await fetchOrch(p, LOCK_MS);
    expect(f.item.messages).toEqual([
      {
        type: "StartOrchestration",
        instance: "i1",
        orchestration: "Hello",
        input: JSON.stringify({ name: "Bun", n: [1, 2] }),
        version: null,
        parent_instance: null,
        parent_id: null,
        execution_id: 1,
      },
    ]);
  });

  test("options.version and startOrchestrationVersioned pin the version; omitted input is null", async () => {
    const { p, client } = await setup();
    await client.startOrchestration("a", "Orch", "x", { version: "1.2.3" });
    await client.startOrchestrationVersioned("b", "Orch", "2.0.0");
    const first = await fetchOrch(p, LOCK_MS);
    const second = await fetchOrch(p, LOCK_MS);
    const byInstance = new Map([first, second].map((f) => [f.item.instance, f.item.messages[0]]));
    expect(byInstance.get("a")).toMatchObject({ type: "StartOrchestration", version: "1.2.3", input: '"x"' });
    expect(byInstance.get("b")).toMatchObject({ type: "StartOrchestration", version: "2.0.0", input: "null" });
  });

  test("raiseEvent, enqueueEvent and cancelInstance enqueue correctly shaped items", async () => {
    const { p, client } = await setup();
    await client.startOrchestration("i1", "Orch", null);
    await client.raiseEvent("i1", "Approved", { ok: true });
    await client.enqueueEvent("i1", "inbox", "hello");
    await client.cancelInstance("i1");
    await client.cancelInstance("i1", "user asked");
    const f = await fetchOrch(p, LOCK_MS);
    expect(f.item.messages.slice(1)).toEqual([
      { type: "ExternalRaised", instance: "i1", name: "Approved", data: '{"ok":true}' },
      { type: "QueueMessage", instance: "i1", name: "inbox", data: '"hello"' },
      { type: "CancelInstance", instance: "i1", reason: "cancelled by client" },
      { type: "CancelInstance", instance: "i1", reason: "user asked" },
    ]);
  });
});

// ---------------------------------------------------------------- status

describe("getOrchestrationStatus", () => {
  test("NotFound for an instance without history, even with a queued start", async () => {
    const { client } = await setup();
    expect(await client.getOrchestrationStatus("nope")).toEqual({ status: "NotFound" });
    await client.startOrchestration("queued", "Orch", 1);
    expect(await client.getOrchestrationStatus("queued")).toEqual({ status: "NotFound" });
  });

  test("Running with no custom status, then with custom status and its version", async () => {
    const { p, client } = await setup();
    await createRunningInstance(p, "i1");
    expect(await client.getOrchestrationStatus("i1")).toEqual({ status: "Running", customStatus: null, customStatusVersion: 0 });
    await turn(p, "i1", [customStatusEvent("i1", 1, 2, "half way")]);
    expect(await client.getOrchestrationStatus("i1")).toEqual({ status: "Running", customStatus: "half way", customStatusVersion: 1 });
  });

  test("Completed parses the JSON output; a non-JSON output comes back as the raw string", async () => {
    const { p, client } = await setup();
    await createCompletedInstance(p, "json", { output: JSON.stringify({ greeting: "Hello, Bun!" }) });
    await createCompletedInstance(p, "raw", { output: "not json {" });
    expect(await client.getOrchestrationStatus("json")).toEqual({
      status: "Completed",
      output: { greeting: "Hello, Bun!" },
      customStatus: null,
      customStatusVersion: 0,
    });
    expect(await client.getOrchestrationStatus("raw")).toMatchObject({ status: "Completed", output: "not json {" });
  });

  test("Failed carries the details and their rendered message; custom status is kept", async () => {
    const { p, client } = await setup();
    await createRunningInstance(p, "f1");
    await turn(p, "f1", [customStatusEvent("f1", 1, 2, "about to fail"), failedEvent("f1", 1, 3, "boom")], terminalMeta("Failed", "boom"));
    expect(await client.getOrchestrationStatus("f1")).toEqual({
      status: "Failed",
      details: { type: "Application", kind: "OrchestrationFailed", message: "boom", retryable: false },
      message: "boom",
      customStatus: "about to fail",
      customStatusVersion: 1,
    });

    await createRunningInstance(p, "c1");
    await turn(p, "c1", [event("c1", 1, 2, { type: "OrchestrationFailed", details: cancelledDetails })], terminalMeta("Failed", "canceled: stop"));
    const s = await client.getOrchestrationStatus("c1");
    expect(s.status).toBe("Failed");
    if (s.status !== "Failed") throw new Error("unreachable");
    expect(s.message).toBe("canceled: stop");
    expect(s.details).toEqual(cancelledDetails);
  });

  test("ContinuedAsNew is Running, both between executions and once the next one started", async () => {
    const { p, client } = await setup();
    await createRunningInstance(p, "can");
    await turn(p, "can", [continuedAsNewEvent("can", 1, 2, "2")], terminalMeta("ContinuedAsNew", "2"));
    expect(await client.getOrchestrationStatus("can")).toMatchObject({ status: "Running" });
    await turn(p, "can", [startedEvent("can", 2, { input: "2" })], { status: "Running" }, 2, continueAsNewItem("can", { input: "2" }));
    expect(await client.getOrchestrationStatus("can")).toMatchObject({ status: "Running" });
    await turn(p, "can", [completedEvent("can", 2, 2, "7")], terminalMeta("Completed", "7"), 2);
    expect(await client.getOrchestrationStatus("can")).toMatchObject({ status: "Completed", output: 7 });
  });

  test("a failing custom status read is swallowed (best effort)", async () => {
    const { p } = await setup();
    await createCompletedInstance(p, "i1", { output: "1" });
    const spy = Object.create(p) as SqliteProvider;
    (spy as { getCustomStatus: Provider["getCustomStatus"] }).getCustomStatus = async () => {
      throw ProviderError.unavailable("getCustomStatus", "database is locked");
    };
    expect(await new Client(spy).getOrchestrationStatus("i1")).toEqual({ status: "Completed", output: 1, customStatus: null, customStatusVersion: 0 });
  });

  test("a failing history read becomes ClientError Provider with retryable copied and the cause kept", async () => {
    const { p } = await setup();
    const spy = Object.create(p) as SqliteProvider;
    const cause = ProviderError.unavailable("read", "database is locked");
    (spy as { read: Provider["read"] }).read = async () => {
      throw cause;
    };
    // Without the management capability every status check reads the history.
    (spy as { asManagementCapability: Provider["asManagementCapability"] }).asManagementCapability = () => null;
    const err = await expectClientError(new Client(spy).getOrchestrationStatus("i1"), "Provider", "database is locked");
    expect(err.retryable).toBe(true);
    expect(err.cause).toBe(cause);
  });
});

// ---------------------------------------------------------------- waiting

describe("waitForOrchestration", () => {
  test("returns at once for a terminal instance, even with timeoutMs 0", async () => {
    const { p, client } = await setup();
    await createCompletedInstance(p, "done", { output: '"ok"' });
    expect(await client.waitForOrchestration("done", { timeoutMs: 0 })).toMatchObject({ status: "Completed", output: "ok" });
  });

  test("is woken by instanceSignals.notify well before its backoff would re-check", async () => {
    const base = await SqliteProvider.inMemory();
    const { spy, afterRead } = withReadHook(base);
    const client = new Client(spy);
    await createRunningInstance(spy, "i1");
    const waiting = client.waitForOrchestration("i1", { timeoutMs: 10_000 });
    // Checks happen at ~0, 20, 60, 140, 300, 620, 1120 ms; after the 7th the next poll is 500 ms away.
    await afterRead(7);
    await turn(spy, "i1", [completedEvent("i1", 1, 2, "42")], terminalMeta("Completed", "42"));
    const notifiedAt = performance.now();
    instanceSignals(spy).notify("i1");
    const status = await waiting;
    const latency = performance.now() - notifiedAt;
    expect(status).toEqual({ status: "Completed", output: 42, customStatus: null, customStatusVersion: 0 });
    expect(latency).toBeLessThan(100);
    expect(instanceSignals(spy).size).toBe(0);
  });

  test("instanceSignals.notifyAll wakes the waiters of every instance, which re-read", async () => {
    const base = await SqliteProvider.inMemory();
    const { spy, afterRead } = withReadHook(base);
    const client = new Client(spy);
    await createRunningInstance(spy, "n1");
    await createRunningInstance(spy, "n2");
    const waiting = [client.waitForOrchestration("n1", { timeoutMs: 10_000 }), client.waitForOrchestration("n2", { timeoutMs: 10_000 })];
    await afterRead(14); // both far into their backoff (7 checks each)
    await turn(spy, "n1", [completedEvent("n1", 1, 2, "1")], terminalMeta("Completed", "1"));
    await turn(spy, "n2", [completedEvent("n2", 1, 2, "2")], terminalMeta("Completed", "2"));
    const notifiedAt = performance.now();
    instanceSignals(spy).notifyAll();
    const statuses = await Promise.all(waiting);
    expect(performance.now() - notifiedAt).toBeLessThan(100);
    expect(statuses.map((s) => s.status === "Completed" && s.output)).toEqual([1, 2]);
    expect(instanceSignals(spy).size).toBe(0);
  });

  test("with a provider declaring terminalWakeups it checks once, then sleeps until signalled (no quick polls)", async () => {
    const base = await SqliteProvider.inMemory();
    const { spy, afterRead } = withReadHook(base);
    (spy as { capabilities: Provider["capabilities"] }).capabilities = () => ({ ...base.capabilities(), terminalWakeups: true });
    const client = new Client(spy);
    await createRunningInstance(spy, "i1");
    const waiting = client.waitForOrchestration("i1", { timeoutMs: 10_000 });
    await afterRead(1);
    // Without the capability the checks would run at ~20, 60 and 140 ms; with it the next one is 500 ms away.
    const second = afterRead(2).then(() => "checked again");
    expect(await Promise.race([second, Bun.sleep(250).then(() => "still asleep")])).toBe("still asleep");
    await turn(spy, "i1", [completedEvent("i1", 1, 2, "7")], terminalMeta("Completed", "7"));
    instanceSignals(spy).notify("i1");
    expect(await waiting).toMatchObject({ status: "Completed", output: 7 });
  });

  test("without any notify (runtime in another process) the fallback poll still finds completion", async () => {
    const base = await SqliteProvider.inMemory();
    const { spy, afterRead } = withReadHook(base);
    const client = new Client(spy);
    const waiting = client.waitForOrchestration("i1", { timeoutMs: 10_000 });
    await afterRead(3); // NotFound keeps waiting
    await createCompletedInstance(spy, "i1", { status: "Failed", output: "bad" });
    expect(await waiting).toMatchObject({ status: "Failed", message: "bad" });
  });

  test("times out with a retryable ClientError Timeout naming the instance and timeout, leaving no waiter", async () => {
    const { p, client } = await setup();
    await createRunningInstance(p, "slow");
    const started = performance.now();
    const err = await expectClientError(client.waitForOrchestration("slow", { timeoutMs: 60 }), "Timeout", "slow");
    expect(performance.now() - started).toBeGreaterThanOrEqual(55);
    expect(err.message).toContain("60 ms");
    expect(err.retryable).toBe(true);
    expect(err.isRetryable()).toBe(true);
    await expectClientError(client.waitForOrchestration("unknown", { timeoutMs: 20 }), "Timeout", "unknown");
    expect(instanceSignals(p).size).toBe(0);
  });
});

describe("waitForStatusChange", () => {
  test("returns the status once the custom status version passes lastSeenVersion", async () => {
    const { p, client } = await setup();
    await createRunningInstance(p, "i1", { extraEvents: [customStatusEvent("i1", 1, 2, "step 1")] });
    // Version 1 is already newer than 0: immediate.
    expect(await client.waitForStatusChange("i1", 0, { timeoutMs: 0 })).toEqual({ status: "Running", customStatus: "step 1", customStatusVersion: 1 });
    const waiting = client.waitForStatusChange("i1", 1, { timeoutMs: 10_000 });
    await turn(p, "i1", [customStatusEvent("i1", 1, 3, "step 2")]);
    instanceSignals(p).notify("i1");
    expect(await waiting).toEqual({ status: "Running", customStatus: "step 2", customStatusVersion: 2 });
  });

  test("returns on a terminal state without a version bump, and times out otherwise", async () => {
    const { p, client } = await setup();
    await createRunningInstance(p, "i1");
    await expectClientError(client.waitForStatusChange("i1", 0, { timeoutMs: 30 }), "Timeout", "i1");
    const waiting = client.waitForStatusChange("i1", 0, { timeoutMs: 10_000 });
    await turn(p, "i1", [completedEvent("i1", 1, 2, "null")], terminalMeta("Completed", "null"));
    instanceSignals(p).notify("i1");
    expect(await waiting).toMatchObject({ status: "Completed", output: null, customStatusVersion: 0 });
  });
});

// ---------------------------------------------------------------- history and KV

describe("history", () => {
  test("readExecutionHistory reads the latest or a given execution; listExecutions lists them", async () => {
    const { p, client } = await setup();
    expect(await client.readExecutionHistory("none")).toEqual([]);
    await createRunningInstance(p, "i1");
    await turn(p, "i1", [continuedAsNewEvent("i1", 1, 2)], terminalMeta("ContinuedAsNew", "{}"));
    await turn(p, "i1", [startedEvent("i1", 2)], { status: "Running" }, 2, continueAsNewItem("i1"));
    expect((await client.readExecutionHistory("i1")).map((e) => [e.execution_id, e.type])).toEqual([[2, "OrchestrationStarted"]]);
    expect((await client.readExecutionHistory("i1", 1)).map((e) => e.type)).toEqual(["OrchestrationStarted", "OrchestrationContinuedAsNew"]);
    expect(await client.listExecutions("i1")).toEqual([1, 2]);
  });
});

describe("KV reads", () => {
  test("values are JSON-decoded; missing keys are null", async () => {
    const { p, client } = await setup();
    await createRunningInstance(p, "i1", {
      extraEvents: [kvSetEvent("i1", 1, 2, "count", "3"), kvSetEvent("i1", 1, 3, "cfg", JSON.stringify({ a: [1, "b"] })), kvSetEvent("i1", 1, 4, "raw", "plain text")],
    });
    expect(await client.getKvValue("i1", "count")).toBe(3);
    expect(await client.getValue("i1", "cfg")).toEqual({ a: [1, "b"] });
    expect(await client.getKvValue("i1", "raw")).toBe("plain text");
    expect(await client.getKvValue("i1", "missing")).toBeNull();
    expect(await client.getKvValue("no-such-instance", "count")).toBeNull();
    expect(await client.getKvAllValues("i1")).toEqual({ count: 3, cfg: { a: [1, "b"] }, raw: "plain text" });
  });

  test("waitForValue resolves once the key is set, and times out while it is not", async () => {
    const { p, client } = await setup();
    await createRunningInstance(p, "i1");
    await expectClientError(client.waitForKvValue("i1", "k", { timeoutMs: 20 }), "Timeout", "i1");
    const waiting = client.waitForValue("i1", "k", { timeoutMs: 10_000 });
    await turn(p, "i1", [kvSetEvent("i1", 1, 2, "k", '{"v":1}')]);
    instanceSignals(p).notify("i1");
    expect(await waiting).toEqual({ v: 1 });
  });
});

// ---------------------------------------------------------------- validation

describe("bad input", () => {
  const cases: [string, (c: Client) => Promise<unknown>][] = [
    ["startOrchestration empty id", (c) => c.startOrchestration("", "Orch", 1)],
    ["startOrchestration non-string id", (c) => c.startOrchestration(5 as unknown as string, "Orch", 1)],
    ["startOrchestration empty name", (c) => c.startOrchestration("i", "", 1)],
    ["startOrchestration non-string name", (c) => c.startOrchestration("i", { n: 1 } as unknown as string, 1)],
    ["startOrchestration bad version", (c) => c.startOrchestration("i", "Orch", 1, { version: "v1" })],
    ["startOrchestration two-part version", (c) => c.startOrchestration("i", "Orch", 1, { version: "1.0" })],
    ["startOrchestration pre-release version", (c) => c.startOrchestration("i", "Orch", 1, { version: "1.0.0-rc.1" })],
    ["startOrchestrationVersioned build-suffixed version", (c) => c.startOrchestrationVersioned("i", "Orch", "1.0.0+build.5", null)],
    ["startOrchestration null options", (c) => c.startOrchestration("i", "Orch", 1, null as unknown as {})],
    ["startOrchestration BigInt input", (c) => c.startOrchestration("i", "Orch", 10n)],
    ["startOrchestration function input", (c) => c.startOrchestration("i", "Orch", () => 1)],
    ["startOrchestration circular input", (c) => {
      const o: Record<string, unknown> = {};
      o.self = o;
      return c.startOrchestration("i", "Orch", o);
    }],
    ["startOrchestrationVersioned non-string version", (c) => c.startOrchestrationVersioned("i", "Orch", 1 as unknown as string, null)],
    ["raiseEvent empty name", (c) => c.raiseEvent("i", "", 1)],
    ["raiseEvent empty id", (c) => c.raiseEvent("", "E", 1)],
    ["enqueueEvent empty queue", (c) => c.enqueueEvent("i", "", 1)],
    ["enqueueEvent symbol data", (c) => c.enqueueEvent("i", "q", Symbol("x"))],
    ["cancelInstance empty id", (c) => c.cancelInstance("")],
    ["cancelInstance non-string reason", (c) => c.cancelInstance("i", 3 as unknown as string)],
    ["getOrchestrationStatus empty id", (c) => c.getOrchestrationStatus("")],
    ["waitForOrchestration negative timeout", (c) => c.waitForOrchestration("i", { timeoutMs: -1 })],
    ["waitForOrchestration NaN timeout", (c) => c.waitForOrchestration("i", { timeoutMs: Number.NaN })],
    ["waitForOrchestration timeout past 2^31−1", (c) => c.waitForOrchestration("i", { timeoutMs: 2 ** 31 })],
    ["waitForOrchestration fractional timeout", (c) => c.waitForOrchestration("i", { timeoutMs: 0.5 })],
    ["waitForStatusChange infinite timeout", (c) => c.waitForStatusChange("i", 0, { timeoutMs: Number.POSITIVE_INFINITY })],
    ["waitForOrchestration missing options", (c) => c.waitForOrchestration("i", undefined as unknown as { timeoutMs: number })],
    ["waitForOrchestration empty id", (c) => c.waitForOrchestration("", { timeoutMs: 1 })],
    ["waitForStatusChange negative version", (c) => c.waitForStatusChange("i", -1, { timeoutMs: 1 })],
    ["waitForStatusChange negative timeout", (c) => c.waitForStatusChange("i", 0, { timeoutMs: -5 })],
    ["readExecutionHistory zero execution", (c) => c.readExecutionHistory("i", 0)],
    ["readExecutionHistory fractional execution", (c) => c.readExecutionHistory("i", 1.5)],
    ["getKvValue empty key", (c) => c.getKvValue("i", "")],
    ["getValue empty id", (c) => c.getValue("", "k")],
    ["getKvAllValues empty id", (c) => c.getKvAllValues("")],
    ["waitForValue negative timeout", (c) => c.waitForValue("i", "k", { timeoutMs: -1 })],
    ["listExecutions empty id", (c) => c.listExecutions("")],
    ["listInstancesByStatus unknown status", (c) => c.listInstancesByStatus("Done" as "Running")],
    ["getInstanceInfo empty id", (c) => c.getInstanceInfo("")],
    ["getExecutionInfo bad execution", (c) => c.getExecutionInfo("i", -1)],
    ["getInstanceTree empty id", (c) => c.getInstanceTree("")],
    ["deleteInstance non-boolean force", (c) => c.deleteInstance("i", { force: "yes" as unknown as boolean })],
    ["deleteInstance empty id", (c) => c.deleteInstance("")],
    ["deleteInstanceBulk null filter", (c) => c.deleteInstanceBulk(null as unknown as {})],
    ["deleteInstanceBulk negative limit", (c) => c.deleteInstanceBulk({ limit: -1 })],
    ["deleteInstanceBulk bad ids", (c) => c.deleteInstanceBulk({ instance_ids: [""] })],
    ["pruneExecutions bad keep_last", (c) => c.pruneExecutions("i", { keep_last: -2 })],
    ["pruneExecutions missing options", (c) => c.pruneExecutions("i", undefined as unknown as {})],
    ["pruneExecutionsBulk bad completed_before", (c) => c.pruneExecutionsBulk({}, { completed_before: "yesterday" as unknown as number })],
  ];
  for (const [name, call] of cases) {
    test(`${name} → ClientError InvalidInput and nothing enqueued`, async () => {
      const { p, client } = await setup();
      const err = await expectClientError(call(client), "InvalidInput");
      expect(err.retryable).toBe(false);
      expect(err.message.length).toBeGreaterThan(20);
      expect(await p.fetchOrchestrationItem(LOCK_MS, 0)).toBeNull();
    });
  }
});

// ---------------------------------------------------------------- management

describe("management", () => {
  test("without the capability every management call fails with ManagementNotAvailable", async () => {
    const { p } = await setup();
    const spy = Object.create(p) as SqliteProvider;
    (spy as unknown as { asManagementCapability: () => null }).asManagementCapability = () => null;
    const client = new Client(spy);
    expect(await client.hasManagementCapability()).toBe(false);
    const calls: (() => Promise<unknown>)[] = [
      () => client.listAllInstances(),
      () => client.listInstancesByStatus("Running"),
      () => client.getInstanceInfo("i"),
      () => client.getExecutionInfo("i", 1),
      () => client.getSystemMetrics(),
      () => client.getQueueDepths(),
      () => client.getInstanceTree("i"),
      () => client.deleteInstance("i"),
      () => client.deleteInstanceBulk({}),
      () => client.pruneExecutions("i", {}),
      () => client.pruneExecutionsBulk({}, {}),
      () => client.listExecutions("i"),
    ];
    for (const call of calls) await expectClientError(call(), "ManagementNotAvailable", "management");
  });

  test("listing, info, metrics, queue depths and tree", async () => {
    const { p, client } = await setup();
    expect(await client.hasManagementCapability()).toBe(true);
    await createRunningInstance(p, "root", { name: "Parent" });
    await createRunningInstance(p, "root::sub::2", { parentInstance: "root" });
    await createCompletedInstance(p, "done", { output: '"ok"' });
    await client.startOrchestration("queued", "Orch", null);

    expect((await client.listAllInstances()).sort()).toEqual(["done", "root", "root::sub::2"]);
    expect((await client.listInstancesByStatus("Running")).sort()).toEqual(["root", "root::sub::2"]);
    expect(await client.listInstancesByStatus("Completed")).toEqual(["done"]);
    expect(await client.getInstanceInfo("root")).toMatchObject({ instance_id: "root", orchestration_name: "Parent", status: "Running", parent_instance_id: null });
    expect(await client.getExecutionInfo("done", 1)).toMatchObject({ execution_id: 1, status: "Completed", event_count: 2 });
    expect(await client.getSystemMetrics()).toMatchObject({ total_instances: 3, running_instances: 2, completed_instances: 1 });
    expect(await client.getQueueDepths()).toEqual({ orchestrator_queue: 1, worker_queue: 0, timer_queue: 0 });
    expect(await client.getInstanceTree("root")).toEqual({ root_id: "root", all_ids: ["root", "root::sub::2"] });
  });

  test("provider refusals map to InstanceNotFound, InstanceStillRunning and CannotDeleteSubOrchestration with the cause kept", async () => {
    const { p, client } = await setup();
    await createRunningInstance(p, "root");
    await createRunningInstance(p, "child", { parentInstance: "root" });

    const notFound = await expectClientError(client.getInstanceInfo("ghost"), "InstanceNotFound", "ghost");
    expect(notFound.cause).toBeInstanceOf(ProviderError);
    await expectClientError(client.getExecutionInfo("root", 9), "InstanceNotFound");
    await expectClientError(client.deleteInstance("ghost"), "InstanceNotFound");
    const running = await expectClientError(client.deleteInstance("root"), "InstanceStillRunning", "still running");
    expect(running.cause).toBeInstanceOf(ProviderError);
    expect(running.retryable).toBe(false);
    const sub = await expectClientError(client.deleteInstance("child", { force: true }), "CannotDeleteSubOrchestration", "child");
    expect(sub.cause).toBeInstanceOf(ProviderError);

    expect(await client.deleteInstance("root", { force: true })).toMatchObject({ instances_deleted: 2, executions_deleted: 2 });
    expect(await client.getOrchestrationStatus("child")).toEqual({ status: "NotFound" });
  });

  test("bulk delete removes terminal roots only; prune keeps the current execution", async () => {
    const { p, client } = await setup();
    await createCompletedInstance(p, "c1");
    await createCompletedInstance(p, "c2");
    await createRunningInstance(p, "r1");
    expect(await client.deleteInstanceBulk({ instance_ids: ["c1", "r1"] })).toMatchObject({ instances_deleted: 1 });
    expect((await client.listAllInstances()).sort()).toEqual(["c2", "r1"]);

    // r1 continues as new twice: executions 1, 2 terminal, 3 current.
    for (const exec of [1, 2]) {
      await turn(p, "r1", [continuedAsNewEvent("r1", exec, 2)], terminalMeta("ContinuedAsNew", "{}"), exec);
      await turn(p, "r1", [startedEvent("r1", exec + 1)], { status: "Running" }, exec + 1, continueAsNewItem("r1"));
    }
    expect(await client.listExecutions("r1")).toEqual([1, 2, 3]);
    expect(await client.pruneExecutions("r1", { keep_last: 2 })).toMatchObject({ instances_processed: 1, executions_deleted: 1 });
    expect(await client.listExecutions("r1")).toEqual([2, 3]);
    expect(await client.pruneExecutionsBulk({ instance_ids: ["r1"] }, {})).toMatchObject({ executions_deleted: 1 });
    expect(await client.listExecutions("r1")).toEqual([3]);
    await expectClientError(client.pruneExecutions("ghost", {}), "InstanceNotFound");
  });
});

// ---------------------------------------------------------------- instance signals

describe("instanceSignals", () => {
  test("one hub per provider object; notify wakes only that instance's waiters", async () => {
    const p1 = await SqliteProvider.inMemory();
    const p2 = await SqliteProvider.inMemory();
    expect(instanceSignals(p1)).toBe(instanceSignals(p1));
    expect(instanceSignals(p1)).not.toBe(instanceSignals(p2));

    const s = instanceSignals(p1);
    let aWoken = false;
    let bWoken = false;
    const a = s.wait("a", 10_000).then(() => (aWoken = true));
    const b = s.wait("b", 10_000).then(() => (bWoken = true));
    instanceSignals(p2).notify("a"); // another provider's hub: no effect
    s.notify("a");
    await a;
    expect(aWoken).toBe(true);
    expect(bWoken).toBe(false);
    expect(s.size).toBe(1);
    s.notify("b");
    await b;
    expect(s.size).toBe(0);
  });

  test("a wait resolves on timeout or abort and leaves no waiter behind", async () => {
    const s = instanceSignals(await SqliteProvider.inMemory());
    const started = performance.now();
    await s.wait("x", 20);
    expect(performance.now() - started).toBeGreaterThanOrEqual(15);
    expect(s.size).toBe(0);

    const stop = new AbortController();
    const pending = s.wait("x", 10_000, stop.signal);
    expect(s.size).toBe(1);
    stop.abort();
    await pending;
    expect(s.size).toBe(0);
    await s.wait("x", 10_000, stop.signal); // already aborted: resolves at once
    s.notify("nobody-waits"); // harmless
  });
});
