// Client input the runtime or the store would refuse or change is refused up front, with a typed
// ClientError saying what was wrong (docs/runtime-semantics.md §4.1, §5.5–§5.7): oversized
// payloads (maxPayloadBytes), payloads that are not JSON, ids that are not well-formed text or too
// long, whitespace-only ids, over-long cancel reasons. Against SqliteProvider.inMemory(), no runtime.
import { describe, expect, test } from "bun:test";
import { Client, MAX_CANCEL_REASON_BYTES } from "../../src/client.ts";
import { ClientError } from "../../src/core/errors.ts";
import { MAX_ID_BYTES, MAX_NAME_BYTES } from "../../src/core/ids.ts";
import { DEFAULT_MAX_PAYLOAD_BYTES } from "../../src/core/payload.ts";
import { fetchOrch } from "../../src/provider-tests/helpers.ts";
import { SqliteProvider } from "../../src/providers/sqlite.ts";
import { resolveRuntimeOptions } from "../../src/runtime/options.ts";

const LOCK_MS = 5_000;

async function setup(options?: ConstructorParameters<typeof Client>[1]) {
  const p = await SqliteProvider.inMemory();
  return { p, client: new Client(p, options) };
}

async function refused(promise: Promise<unknown>, ...mentions: string[]): Promise<ClientError> {
  const err = await promise.then(
    () => {
      throw new Error("expected ClientError InvalidInput, but the call succeeded");
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ClientError);
  expect((err as ClientError).code).toBe("InvalidInput");
  expect((err as ClientError).retryable).toBe(false);
  for (const m of mentions) expect((err as ClientError).message).toContain(m);
  return err as ClientError;
}

async function nothingEnqueued(p: SqliteProvider): Promise<void> {
  expect(await p.fetchOrchestrationItem(LOCK_MS, 0)).toBeNull();
}

describe("payload size (maxPayloadBytes)", () => {
  test("the client's default limit is the runtime's default maxPayloadBytes", () => {
    expect(resolveRuntimeOptions({}).maxPayloadBytes).toBe(DEFAULT_MAX_PAYLOAD_BYTES);
  });

  test("startOrchestration, raiseEvent and enqueueEvent refuse a payload over the default limit, naming it", async () => {
    const { p, client } = await setup();
    const big = "x".repeat(DEFAULT_MAX_PAYLOAD_BYTES); // its JSON adds two quotes
    await refused(client.startOrchestration("i", "Orch", big), "startOrchestration", "input", `${DEFAULT_MAX_PAYLOAD_BYTES + 2} bytes`, "maxPayloadBytes");
    await refused(client.raiseEvent("i", "E", { big }), "raiseEvent", "data", "maxPayloadBytes");
    await refused(client.enqueueEvent("i", "q", [big]), "enqueueEvent", "data", "maxPayloadBytes");
    await nothingEnqueued(p);
  });

  test("the limit counts UTF-8 bytes of the JSON text, as the runtime does, not characters", async () => {
    const { p, client } = await setup({ maxPayloadBytes: 10 });
    await client.startOrchestration("i", "Orch");
    await client.raiseEvent("i", "E", "éééé"); // '"éééé"': 6 characters, 10 bytes
    await refused(client.raiseEvent("i", "E", "ééééé"), "12 bytes", "10 bytes"); // 7 characters, 12 bytes
    const f = await fetchOrch(p, LOCK_MS);
    expect(f.item.messages.slice(1)).toEqual([{ type: "ExternalRaised", instance: "i", name: "E", data: '"éééé"' }]);
  });

  test("new Client(provider, { maxPayloadBytes }) overrides the limit; payloads at the limit pass", async () => {
    const { p, client } = await setup({ maxPayloadBytes: 12 });
    await client.startOrchestration("i", "Orch");
    await client.raiseEvent("i", "E", "0123456789"); // 12 bytes with the quotes
    await refused(client.raiseEvent("i", "E", "01234567890"), "13 bytes", "12 bytes", "maxPayloadBytes");
    const f = await fetchOrch(p, LOCK_MS);
    expect(f.item.messages.slice(1)).toEqual([{ type: "ExternalRaised", instance: "i", name: "E", data: '"0123456789"' }]);
  });

  test("a bad maxPayloadBytes or an unknown option is refused at construction", async () => {
    const p = await SqliteProvider.inMemory();
    for (const options of [{ maxPayloadBytes: 0 }, { maxPayloadBytes: 1.5 }, { maxPayloadBytes: "1mb" }, { maxPayloadByte: 10 }, null]) {
      let caught: unknown;
      try {
        new Client(p, options as never);
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(ClientError);
      expect((caught as ClientError).code).toBe("InvalidInput");
    }
  });
});

describe("payloads that are not JSON", () => {
  const cases: [string, unknown, string][] = [
    ["NaN in an array", { items: [1, 2, 3, Number.NaN] }, "input.items[3] is NaN"],
    ["Infinity", Number.POSITIVE_INFINITY, "input is Infinity"],
    ["a Map", { m: new Map([["a", 1]]) }, "input.m is a Map"],
    ["a Set", new Set([1]), "input is a Set"],
    ["an Error", { error: new Error("boom") }, "input.error is an Error"],
    ["a typed array", { bytes: new Uint8Array([1, 2]) }, "input.bytes is a Uint8Array"],
    ["a function in an object", { f: () => 1 }, "input.f is a function"],
    ["a BigInt", { n: 10n }, "input.n is a BigInt"],
    ["a cycle", (() => {
      const o: Record<string, unknown> = { a: {} };
      (o.a as Record<string, unknown>).back = o;
      return o;
    })(), "input.a.back is a reference back to input"],
  ];
  for (const [what, value, mention] of cases) {
    test(`startOrchestration refuses ${what}, naming its path`, async () => {
      const { p, client } = await setup();
      await refused(client.startOrchestration("i", "Orch", value), "startOrchestration: input is not JSON-serializable", mention);
      await nothingEnqueued(p);
    });
  }

  test("raiseEvent and enqueueEvent name the path from data", async () => {
    const { p, client } = await setup();
    await refused(client.raiseEvent("i", "E", { when: Number.NaN }), "raiseEvent: data is not JSON-serializable: data.when is NaN");
    await refused(client.enqueueEvent("i", "q", [new Set()]), "enqueueEvent: data is not JSON-serializable: data[0] is a Set");
    await nothingEnqueued(p);
  });

  test("JSON conventions are kept: undefined fields are left out, undefined in arrays and top-level undefined become null, Dates become ISO text", async () => {
    const { p, client } = await setup();
    await client.startOrchestration("i", "Orch", { a: undefined, list: [undefined, 1], at: new Date(0) });
    const f = await fetchOrch(p, LOCK_MS);
    expect((f.item.messages[0] as { input: string }).input).toBe('{"list":[null,1],"at":"1970-01-01T00:00:00.000Z"}');
  });
});

describe("ids", () => {
  test('"k\\ud800" and "k\\udc00" are refused instead of becoming one instance', async () => {
    const { p, client } = await setup();
    for (const id of ["k\ud800", "k\udc00"]) {
      await refused(client.startOrchestration(id, "Orch", 1), "instanceId", "unpaired UTF-16 surrogate");
    }
    await nothingEnqueued(p);
    // A well-formed pair is fine.
    await client.startOrchestration("k\ud83d\ude00", "Orch", 1);
    expect((await fetchOrch(p, LOCK_MS)).item.instance).toBe("k😀");
  });

  test("NUL, whitespace-only and over-long ids are refused by every method that takes an id", async () => {
    const { p, client } = await setup();
    const tooLong = "é".repeat(MAX_ID_BYTES / 2 + 1); // 2 bytes each: MAX_ID_BYTES + 2 bytes
    const bad: [string, string][] = [
      ["a\u0000b", "NUL"],
      ["   ", "whitespace"],
      ["\t\n", "whitespace"],
      [tooLong, `at most ${MAX_ID_BYTES} bytes`],
    ];
    for (const [id, mention] of bad) {
      await refused(client.startOrchestration(id, "Orch", 1), mention);
      await refused(client.raiseEvent(id, "E", 1), mention);
      await refused(client.enqueueEvent(id, "q", 1), mention);
      await refused(client.cancelInstance(id), mention);
      await refused(client.getOrchestrationStatus(id), mention);
      await refused(client.waitForOrchestration(id, { timeoutMs: 1 }), mention);
      await refused(client.readExecutionHistory(id), mention);
      await refused(client.getKvValue(id, "k"), mention);
      await refused(client.deleteInstance(id), mention);
      await refused(client.deleteInstanceBulk({ instance_ids: ["ok", id] }), "filter.instance_ids[1]", mention);
      await refused(client.pruneExecutionsBulk({ instance_ids: [id] }, {}), "filter.instance_ids[0]", mention);
    }
    await nothingEnqueued(p);
    // Exactly MAX_ID_BYTES is fine.
    const longest = "é".repeat(MAX_ID_BYTES / 2);
    await client.startOrchestration(longest, "Orch", 1);
    expect((await fetchOrch(p, LOCK_MS)).item.instance).toBe(longest);
  });

  test("names and keys must be well-formed text too", async () => {
    const { p, client } = await setup();
    await refused(client.startOrchestration("i", "Orch\ud800", 1), "name", "surrogate");
    await refused(client.raiseEvent("i", "E\u0000", 1), "eventName", "NUL");
    await refused(client.enqueueEvent("i", "\udfffq", 1), "queueName", "surrogate");
    await refused(client.getKvValue("i", "k\ud800"), "key", "surrogate");
    // Length: names and keys are capped like ids (a KV key is indexed with its instance id).
    const long = "n".repeat(MAX_NAME_BYTES + 1);
    await refused(client.startOrchestration("i", long, 1), "name", `at most ${MAX_NAME_BYTES} bytes`);
    await refused(client.raiseEvent("i", long, 1), "eventName", `at most ${MAX_NAME_BYTES} bytes`);
    await refused(client.getKvValue("i", long), "key", `at most ${MAX_NAME_BYTES} bytes`);
    await nothingEnqueued(p);
  });
});

describe("cancel reasons", () => {
  test(`cancelInstance refuses a reason over ${MAX_CANCEL_REASON_BYTES} UTF-8 bytes and accepts one at the limit`, async () => {
    const { p, client } = await setup();
    await refused(client.cancelInstance("i", "r".repeat(MAX_CANCEL_REASON_BYTES + 1)), "reason", `${MAX_CANCEL_REASON_BYTES}`);
    await nothingEnqueued(p);
    await client.startOrchestration("i", "Orch");
    await client.cancelInstance("i", "r".repeat(MAX_CANCEL_REASON_BYTES));
    expect((await fetchOrch(p, LOCK_MS)).item.messages.slice(1)).toEqual([{ type: "CancelInstance", instance: "i", reason: "r".repeat(MAX_CANCEL_REASON_BYTES) }]);
  });
});
