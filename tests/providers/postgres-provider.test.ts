// What is particular to PostgresProvider beyond the correctness suite: capabilities, close(),
// the database's clock deciding locks, values PostgreSQL text cannot hold, and the mapping of
// SQLSTATEs and connection failures to error kinds.
import { afterAll, describe, expect, test } from "bun:test";
import { ProviderError, TagFilter } from "../../src/provider-api.ts";
import type { SQL } from "bun";
import { PostgresProvider } from "../../src/providers/postgres.ts";
import { quoted } from "../../src/providers/postgres/options.ts";
import { postgresError } from "../../src/providers/postgres/errors.ts";
import { decodeText, encodeText } from "../../src/providers/postgres/text-codec.ts";
import {
  activityCompletedItem,
  activityItem,
  activityScheduledEvent,
  createRunningInstance,
  customStatusEvent,
  externalRaisedItem,
  fetchOrch,
  kvSetEvent,
  runningMeta,
  startItem,
  startedEvent,
  tryFetchWork,
} from "../../src/provider-tests/helpers.ts";
import { postgresForTests } from "./postgres-server.ts";

const pg = await postgresForTests();
const schemas: string[] = [];

async function fresh(options: Parameters<typeof PostgresProvider.connect>[1] = {}): Promise<PostgresProvider> {
  const schema = `test_${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`;
  schemas.push(schema);
  return PostgresProvider.connect(pg.url!, { poolMax: 3, ...options, schema });
}

afterAll(async () => {
  if (pg.url !== null) for (const s of schemas) await PostgresProvider.dropSchema(pg.url, s);
});

describe("postgresError (no server needed)", () => {
  const err = (fields: Record<string, unknown>) => Object.assign(new Error("boom"), fields);
  test("serialization, deadlock, lock-not-available, shutdown and connection SQLSTATEs are Unavailable and retryable", () => {
    for (const state of ["40001", "40P01", "55P03", "57P01", "57P02", "57P03", "08006", "08001", "53300"]) {
      const e = postgresError("op", err({ code: "ERR_POSTGRES_SERVER_ERROR", errno: state }));
      expect(e.kind, state).toBe("Unavailable");
      expect(e.retryable, state).toBe(true);
    }
  });
  test("the provider's own DXL01 is LockLost; constraint violations Conflict; bad data InvalidArgument; all permanent", () => {
    const lost = postgresError("op", err({ errno: "DXL01" }));
    expect([lost.kind, lost.retryable]).toEqual(["LockLost", false]);
    const dup = postgresError("op", err({ errno: "23505" }));
    expect([dup.kind, dup.retryable]).toEqual(["Conflict", false]);
    const data = postgresError("op", err({ errno: "22021" }));
    expect([data.kind, data.retryable]).toEqual(["InvalidArgument", false]);
    const undefinedTable = postgresError("op", err({ errno: "42P01" }));
    expect([undefinedTable.kind, undefinedTable.retryable]).toEqual(["Internal", false]);
  });
  test("failures without a SQLSTATE: socket and pool errors are Unavailable, client-side query bugs Internal", () => {
    for (const code of ["ERR_POSTGRES_CONNECTION_CLOSED", "ERR_POSTGRES_CONNECTION_TIMEOUT", "ECONNREFUSED", "ECONNRESET"]) {
      const e = postgresError("op", err({ code }));
      expect([e.kind, e.retryable], code).toEqual(["Unavailable", true]);
    }
    const bug = postgresError("op", err({ code: "ERR_POSTGRES_SYNTAX_ERROR" }));
    expect([bug.kind, bug.retryable]).toEqual(["Internal", false]);
  });
  test("messages are never what decides: the same SQLSTATE with any text maps the same", () => {
    const a = postgresError("op", Object.assign(new Error("deadlock detected"), { errno: "23505" }));
    expect(a.kind).toBe("Conflict");
  });
});

test("the package exports duroxide/postgres (the provider and its suite factory) and the throw-away server from duroxide/testing", async () => {
  const entry = await import("duroxide/postgres");
  expect(entry.PostgresProvider).toBe(PostgresProvider);
  expect(typeof entry.postgresSuiteFactory).toBe("function");
  const testing = await import("duroxide/testing");
  expect(typeof testing.startThrowawayPostgres).toBe("function");
});

describe("text codec (no server needed)", () => {
  test("clean strings are stored as they are; NUL, lone surrogates and the marker round-trip exactly", () => {
    expect(encodeText("plain ünïcode 😀")).toBe("plain ünïcode 😀");
    for (const s of ["a\u0000b", "\ud800 lone high", "lone low \udc00", "\u0001dx-json:looks like the marker", "😀\u0000"]) {
      const stored = encodeText(s);
      expect(stored.includes("\u0000")).toBe(false);
      expect(decodeText(stored)).toBe(s);
    }
    expect(encodeText(null)).toBeNull();
  });
});

if (pg.url === null) {
  test.skip(`PostgresProvider [skipped: ${pg.reason}]`, () => {});
} else {
  describe("PostgresProvider", () => {
    test("declares long polling, management, multiple processes and cross-process wake-ups; listen: false drops the last", async () => {
      const p = await fresh();
      expect(p.capabilities()).toEqual({ longPolling: true, management: true, multiProcess: true, crossProcessWakeups: true, terminalWakeups: true });
      expect(p.name()).toBe("postgres");
      const quiet = await fresh({ listen: false });
      expect(quiet.capabilities().crossProcessWakeups).toBe(false);
      expect(quiet.capabilities().terminalWakeups).toBe(false);
      await p.close();
      await quiet.close();
    });

    test("after close() every method fails with kind Closed (admin included); a waiting fetch returns null; close() is idempotent", async () => {
      const p = await fresh();
      const waiting = p.fetchOrchestrationItem(1000, 20_000);
      await Bun.sleep(50);
      const t0 = performance.now();
      await Promise.all([p.close(), p.close()]);
      expect(await waiting).toBeNull();
      expect(performance.now() - t0).toBeLessThan(5_000);
      const calls: [string, Promise<unknown>][] = [
        ["enqueueForOrchestrator", p.enqueueForOrchestrator(startItem("y"), null)],
        ["fetchOrchestrationItem", p.fetchOrchestrationItem(1000, 0)],
        ["fetchWorkItem", p.fetchWorkItem(1000, 0, null, TagFilter.defaultOnly())],
        ["ackWorkItem", p.ackWorkItem("token", null)],
        ["read", p.read("x")],
        ["getKvValue", p.getKvValue("x", "k")],
        ["renewSessionLock", p.renewSessionLock(["w"], 1000, 1000)],
        ["listInstances", p.asManagementCapability().listInstances()],
      ];
      for (const [op, call] of calls) {
        const e = await call.then(
          () => null,
          (x: unknown) => x,
        );
        expect(e, op).toBeInstanceOf(ProviderError);
        expect((e as ProviderError).kind, op).toBe("Closed");
      }
    });

    test("locks are decided by the database's clock: a process whose clock runs an hour ahead cannot steal a live lock", async () => {
      const a = await fresh();
      const b = await PostgresProvider.connect(pg.url!, { schema: a.schema, poolMax: 2 });
      await a.enqueueForOrchestrator(startItem("clock"), null);
      await a.enqueueForWorker(activityItem("clock", 1));
      const held = await a.fetchOrchestrationItem(30_000, 0);
      const work = await a.fetchWorkItem(30_000, 0, null, TagFilter.defaultOnly());
      expect(held).not.toBeNull();
      expect(work).not.toBeNull();
      const realNow = Date.now;
      Date.now = () => realNow() + 3_600_000;
      try {
        expect(await b.fetchOrchestrationItem(30_000, 0)).toBeNull();
        expect(await b.fetchWorkItem(30_000, 0, null, TagFilter.defaultOnly())).toBeNull();
      } finally {
        Date.now = realNow;
      }
      await a.ackWorkItem(work!.lockToken, null);
      await b.close();
      await a.close();
    });

    test("version components beyond 2^31 (any safe integer, as on SQLite) work in a capability filter and a pinned version", async () => {
      const p = await fresh();
      const big = { major: 2 ** 40, minor: 2 ** 31, patch: 0 };
      await p.enqueueForOrchestrator(startItem("big-version"), null);
      const f = await p.fetchOrchestrationItem(30_000, 0, { supported_duroxide_versions: [{ min: { major: 0, minor: 0, patch: 0 }, max: big }] });
      expect(f?.item.instance).toBe("big-version");
      await p.ackOrchestrationItem(f!.lockToken, 1, [startedEvent("big-version")], [], [], runningMeta("TestOrch", "1.0.0", { pinned_duroxide_version: big }), []);
      await p.enqueueForOrchestrator(startItem("big-version"), null);
      const none = await p.fetchOrchestrationItem(30_000, 0, { supported_duroxide_versions: [{ min: { major: 0, minor: 0, patch: 0 }, max: { major: 2 ** 40, minor: 0, patch: 0 } }] });
      expect(none).toBeNull(); // pinned 2^40.2^31.0 is above that range
      await p.close();
    });

    test("ids PostgreSQL text cannot hold exactly (NUL, unpaired surrogates) are refused with InvalidArgument, and never merged with another id", async () => {
      const p = await fresh();
      for (const id of ["s\ud800", "s\udbff", "nul\u0000id"]) {
        const e = await p.enqueueForOrchestrator(startItem(id), null).then(() => null, (x: unknown) => x);
        expect(e, JSON.stringify(id)).toBeInstanceOf(ProviderError);
        expect((e as ProviderError).kind).toBe("InvalidArgument");
      }
      expect(await p.fetchOrchestrationItem(30_000, 0)).toBeNull(); // nothing was stored
      const admin = p.asManagementCapability();
      const del = await admin.deleteInstance("s\ud800", true).then(() => null, (x: unknown) => x);
      expect((del as ProviderError).kind).toBe("InvalidArgument");
      const r = await p.read("x\udc00").then(() => null, (x: unknown) => x);
      expect((r as ProviderError).kind).toBe("InvalidArgument");
      // A well-formed surrogate pair is fine.
      await p.enqueueForOrchestrator(startItem("emoji-😀"), null);
      expect((await p.fetchOrchestrationItem(30_000, 0))?.item.instance).toBe("emoji-😀");
      await p.close();
    });

    test("events and work items holding the packed lists' separators (U+001E, U+001F), quotes, backslashes, braces and commas round-trip exactly (turn ack, worker ack, append)", async () => {
      // Lists of JSON texts travel as one text split on U+001E on the server (packed-texts.ts):
      // a value holding it, or the null marker U+001F, must come back as it went in.
      const odd = 'a\u001eb\u001fc"d\\e{f,g}h NULL \u001e';
      const p = await fresh();
      await p.enqueueForOrchestrator(startItem("sep", { input: odd }), null);
      const f = await p.fetchOrchestrationItem(30_000, 0);
      expect(f!.item.messages[0]).toMatchObject({ type: "StartOrchestration", input: odd });
      const events = [startedEvent("sep", 1, { input: odd }), activityScheduledEvent("sep", 1, 2, "A", odd), activityScheduledEvent("sep", 1, 3, "B", odd)];
      await p.ackOrchestrationItem(
        f!.lockToken,
        1,
        events,
        [activityItem("sep", 2, { name: "A", input: odd }), activityItem("sep", 3, { name: "B", input: odd })],
        [externalRaisedItem("sep", "E", odd)],
        runningMeta(),
        [],
      );
      expect(await p.read("sep")).toEqual(events);
      const w1 = await tryFetchWork(p, 30_000);
      const w2 = await tryFetchWork(p, 30_000);
      expect([w1!.item, w2!.item].map((i) => (i as { input: string }).input)).toEqual([odd, odd]);
      // One ack with a completion and one without (a null element of the packed list), in one batch.
      await Promise.all([p.ackWorkItem(w1!.lockToken, activityCompletedItem("sep", (w1!.item as { id: number }).id, odd)), p.ackWorkItem(w2!.lockToken, null)]);
      const g = await p.fetchOrchestrationItem(30_000, 0);
      expect(g!.item.history).toEqual(events);
      expect(g!.item.messages).toEqual([externalRaisedItem("sep", "E", odd), activityCompletedItem("sep", (w1!.item as { id: number }).id, odd)]);
      const more = [activityScheduledEvent("sep", 1, 4, "C", odd)];
      await p.abandonOrchestrationItem(g!.lockToken, 0, false);
      await p.appendWithExecution("sep", 1, more);
      expect(await p.read("sep")).toEqual([...events, ...more]);
      await p.close();
    });

    test("a history whose only stored event is corrupt and empty ('') is reported as unreadable, not as empty (found by a review of the packed history)", async () => {
      // The history comes back packed; an empty string must stay one (undecodable) event.
      const p = await fresh();
      await createRunningInstance(p, "e"); // history: OrchestrationStarted only
      const sql = (p as unknown as { sql: SQL }).sql;
      await sql.unsafe(`UPDATE ${quoted(p.schema)}.history SET event_data = '' WHERE instance_id = $1`, ["e"]);
      await p.enqueueForOrchestrator(externalRaisedItem("e"), null);
      const f = await fetchOrch(p, 5_000);
      expect(f.item.instance).toBe("e");
      expect({ events: f.item.history.length, error: f.item.history_error !== null }).toEqual({ events: 0, error: true });
      await p.close();
    });

    test("custom status, KV values and output holding NUL or lone surrogates round-trip exactly", async () => {
      const p = await fresh();
      const weird = "x\u0000y\ud800z";
      await p.enqueueForOrchestrator(startItem("odd"), null);
      const f = await p.fetchOrchestrationItem(30_000, 0);
      await p.ackOrchestrationItem(
        f!.lockToken,
        1,
        [startedEvent("odd"), customStatusEvent("odd", 1, 2, weird), kvSetEvent("odd", 1, 3, "k", weird)],
        [],
        [],
        runningMeta("TestOrch", "1.0.0", { status: "Completed", output: weird }),
        [],
      );
      expect((await p.getCustomStatus("odd", 0))?.status).toBe(weird);
      expect(await p.getKvValue("odd", "k")).toBe(weird);
      expect(await p.getKvAllValues("odd")).toEqual({ k: weird });
      const info = await p.asManagementCapability().getExecutionInfo("odd", 1);
      expect(info.output).toBe(weird);
      await p.close();
    });
  });
}
