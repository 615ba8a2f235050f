// SQLite-specific behaviour beyond the generic suite: opening, durability settings, dead letters,
// and two processes sharing one file. What the provider keeps in its tables is seen (and planted)
// through a second connection to the file: the provider's own connection is not public.
import { Database } from "bun:sqlite";
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ProviderError, ValidationError } from "../../src/core/errors.ts";
import { TagFilter } from "../../src/core/queue-types.ts";
import { SqliteProvider, parseSqliteUrl } from "../../src/providers/sqlite.ts";
import { openDatabase } from "../../src/providers/sqlite/open.ts";
import {
  activityItem,
  continueAsNewItem,
  continuedAsNewEvent,
  createRunningInstance,
  event,
  externalRaisedItem,
  fetchOrch,
  kvSetEvent,
  runningMeta,
  startItem,
  startedEvent,
  terminalMeta,
} from "../../src/provider-tests/helpers.ts";

const dir = mkdtempSync(join(tmpdir(), "duroxide-sqlite-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const freshPath = () => join(dir, `db-${++n}.db`);

describe("SqliteProvider.open", () => {
  test("accepts sqlite: URLs, sqlite:// URLs, plain paths and drops query strings", () => {
    expect(parseSqliteUrl("sqlite:./x.db")).toBe("./x.db");
    expect(parseSqliteUrl("sqlite://data/x.db?mode=rwc")).toBe("data/x.db");
    expect(parseSqliteUrl("/tmp/y.db")).toBe("/tmp/y.db");
    expect(parseSqliteUrl("sqlite::memory:")).toBe(":memory:");
  });

  test("rejects an empty path and bad options with a ValidationError", async () => {
    expect(() => parseSqliteUrl("")).toThrow(ValidationError);
    expect(() => parseSqliteUrl("sqlite:")).toThrow(ValidationError);
    await expect(SqliteProvider.open(freshPath(), { synchronous: "OFF" as "FULL" })).rejects.toThrow(ValidationError);
    await expect(SqliteProvider.open(freshPath(), { busyTimeoutMs: -1 })).rejects.toThrow(ValidationError);
  });

  test("file mode uses WAL with synchronous=NORMAL by default and FULL on request", async () => {
    const path = freshPath();
    const a = await SqliteProvider.open(`sqlite:${path}`);
    const raw = new Database(path); // the journal mode is the file's, so any connection sees it
    expect(raw.query<{ journal_mode: string }, []>("PRAGMA journal_mode").get()?.journal_mode).toBe("wal");
    raw.close();
    a.close();
    // synchronous is the connection's own: checked on the connection SqliteProvider.open opens with.
    const normal = await openDatabase(freshPath(), {});
    expect(normal.query<{ synchronous: number }, []>("PRAGMA synchronous").get()?.synchronous).toBe(1);
    normal.close();
    const full = await openDatabase(freshPath(), { synchronous: "FULL" });
    expect(full.query<{ synchronous: number }, []>("PRAGMA synchronous").get()?.synchronous).toBe(2);
    full.close();
  });

  test("data survives close and reopen", async () => {
    const path = freshPath();
    const a = await SqliteProvider.open(path);
    await a.enqueueForOrchestrator(startItem("persist"), null);
    const f = await a.fetchOrchestrationItem(1000, 0);
    await a.ackOrchestrationItem(f!.lockToken, 1, [startedEvent("persist")], [activityItem("persist", 2)], [], runningMeta(), []);
    a.close();
    const b = await SqliteProvider.open(path);
    expect((await b.read("persist")).map((e) => e.type)).toEqual(["OrchestrationStarted"]);
    const w = await b.fetchWorkItem(1000, 0, null, TagFilter.defaultOnly());
    expect(w?.item).toMatchObject({ type: "ActivityExecute", instance: "persist", id: 2 });
    b.close();
  });

  test("refuses a database written by a newer schema version", async () => {
    const path = freshPath();
    (await SqliteProvider.open(path)).close();
    const raw = new Database(path);
    raw.run("PRAGMA user_version = 999");
    raw.close();
    await expect(SqliteProvider.open(path)).rejects.toThrow(/newer/);
  });
});

describe("undecodable queue rows", () => {
  test("a garbage orchestrator message is moved to dead_letters and does not block the next instance", async () => {
    const path = freshPath();
    const p = await SqliteProvider.open(path);
    const raw = new Database(path);
    raw.run("INSERT INTO orchestrator_queue (instance_id, kind, work_item, visible_at, created_at) VALUES ('bad', 'StartOrchestration', '{not json', 0, 0)");
    await p.enqueueForOrchestrator(startItem("good"), null);
    const f = await p.fetchOrchestrationItem(1000, 0);
    expect(f?.item.instance).toBe("good");
    expect(raw.query<{ n: number }, []>("SELECT COUNT(*) AS n FROM dead_letters WHERE queue = 'orchestrator'").get()?.n).toBe(1);
    expect(raw.query<{ n: number }, []>("SELECT COUNT(*) AS n FROM orchestrator_queue WHERE instance_id = 'bad'").get()?.n).toBe(0);
    raw.close();
    p.close();
  });

  test("a garbage worker row is moved to dead_letters and the next item is delivered", async () => {
    const path = freshPath();
    const p = await SqliteProvider.open(path);
    const raw = new Database(path);
    raw.run("INSERT INTO worker_queue (work_item, visible_at, created_at) VALUES ('{\"type\":\"ActivityExecute\"}', 0, 0)");
    await p.enqueueForWorker(activityItem("ok", 7));
    const w = await p.fetchWorkItem(1000, 0, null, TagFilter.defaultOnly());
    expect(w?.item).toMatchObject({ instance: "ok", id: 7 });
    expect(raw.query<{ n: number }, []>("SELECT COUNT(*) AS n FROM dead_letters WHERE queue = 'worker'").get()?.n).toBe(1);
    raw.close();
    p.close();
  });
});

describe("two processes on one file", () => {
  test("never deliver one message twice and deliver every message", async () => {
    const path = freshPath();
    const p = await SqliteProvider.open(path);
    const instances = 150;
    const acts = 300;
    for (let i = 0; i < instances; i++) await p.enqueueForOrchestrator(startItem(`mp-${i}`), null);
    for (let i = 0; i < acts; i++) await p.enqueueForWorker(activityItem(`act-${i}`, i + 1));
    const child = join(import.meta.dir, "fixtures", "drain-queues.ts");
    const procs = [0, 1].map(() =>
      // Each child takes at most 60 %: both must do real work, at the same time for most of the run.
      Bun.spawn([process.execPath, child, path, String(Math.ceil((instances + acts) * 0.6))], { stdin: "pipe", stdout: "pipe", stderr: "inherit" }),
    );
    // Each child prints "ready" once it has opened the file, then waits for "go".
    const readers = procs.map((pr) => pr.stdout.getReader());
    const decoder = new TextDecoder();
    const texts = await Promise.all(readers.map(async (r) => {
      let text = "";
      while (!text.includes("ready\n")) {
        const { value, done } = await r.read();
        if (done) throw new Error(`child exited before it was ready: ${text}`);
        text += decoder.decode(value);
      }
      return text;
    }));
    for (const pr of procs) {
      pr.stdin.write("go\n");
      pr.stdin.end();
    }
    const outputs = await Promise.all(procs.map(async (pr, i) => {
      let text = texts[i]!;
      for (;;) {
        const { value, done } = await readers[i]!.read();
        if (done) break;
        text += decoder.decode(value);
      }
      expect(await pr.exited).toBe(0);
      return JSON.parse(text.trim().split("\n").at(-1)!) as { orchestrations: string[]; activities: number[] };
    }));
    const orch = outputs.flatMap((o) => o.orchestrations);
    const act = outputs.flatMap((o) => o.activities);
    expect(new Set(orch).size).toBe(orch.length);
    expect(new Set(act).size).toBe(act.length);
    expect(orch.length).toBe(instances);
    expect(act.length).toBe(acts);
    // Both processes did real work (the test would prove nothing if one drained everything).
    for (const o of outputs) expect(o.orchestrations.length + o.activities.length).toBeGreaterThan(0);
    const admin = p.asManagementCapability();
    expect((await admin.listInstancesByStatus("Completed")).length).toBe(instances);
    expect((await admin.getQueueDepths()).orchestrator_queue).toBe(acts); // one completion per activity
    p.close();
  }, 60_000);
});

// The provider keeps each fetched instance's decoded history and appends its own turns to it, so a
// fetch normally reads no history rows; another connection's commit (PRAGMA data_version) makes it
// check each entry against the table again before trusting it (docs/provider-contract.md §14.6).
describe("cached history and other connections", () => {
  const ext = (instance: string, id: number, data: string) => event(instance, 1, id, { type: "ExternalEvent", name: "Evt", data });

  test("a turn acked by another connection is in this connection's next fetch of the instance", async () => {
    const path = freshPath();
    const a = await SqliteProvider.open(path);
    const b = await SqliteProvider.open(path);
    const [e2, e3] = [ext("X", 2, "1"), ext("X", 3, "2")];
    await createRunningInstance(a, "X");
    const started = (await a.read("X"))[0]!;
    // a fetches and acks X (its cache now holds X's history), then b does a turn of its own.
    await a.enqueueForOrchestrator(externalRaisedItem("X", "Evt", "1"), null);
    const t1 = await fetchOrch(a, 30_000);
    expect(t1.item.history).toEqual([started]);
    await a.ackOrchestrationItem(t1.lockToken, 1, [e2], [], [], runningMeta(), []);
    await b.enqueueForOrchestrator(externalRaisedItem("X", "Evt", "2"), null);
    const t2 = await fetchOrch(b, 30_000);
    expect(t2.item.history).toEqual([started, e2]);
    await b.ackOrchestrationItem(t2.lockToken, 1, [e3], [], [], runningMeta(), []);
    // a's cached entry lacks event 3: a must see b's commit and read the new row.
    await a.enqueueForOrchestrator(externalRaisedItem("X", "Evt", "3"), null);
    const t3 = await fetchOrch(a, 30_000);
    expect(t3.item.history).toEqual([started, e2, e3]);
    await a.abandonOrchestrationItem(t3.lockToken, null, true);
    a.close();
    b.close();
  });

  test("an execution deleted and started again by another connection is read afresh", async () => {
    const path = freshPath();
    const a = await SqliteProvider.open(path);
    const b = await SqliteProvider.open(path);
    await createRunningInstance(a, "Y", { extraEvents: [ext("Y", 2, "old-2"), ext("Y", 3, "old-3")] });
    await a.enqueueForOrchestrator(externalRaisedItem("Y", "Evt", "x"), null);
    const t1 = await fetchOrch(a, 30_000);
    expect(t1.item.history.length).toBe(3);
    await a.abandonOrchestrationItem(t1.lockToken, null, true);
    // b deletes Y and creates it again with a shorter history: the ends differ from a's entry.
    await b.asManagementCapability().deleteInstance("Y", true);
    await createRunningInstance(b, "Y");
    const restarted = (await b.read("Y"))[0]!;
    await b.enqueueForOrchestrator(externalRaisedItem("Y", "Evt", "y"), null);
    const t2 = await fetchOrch(a, 30_000);
    expect(t2.item.instance).toBe("Y");
    expect(t2.item.history).toEqual([restarted]);
    await a.abandonOrchestrationItem(t2.lockToken, null, true);
    a.close();
    b.close();
  });
});

// Review of the history cache (docs/provider-contract.md §14.6): what the cheap checks cannot see.
describe("cached history: review", () => {
  const ext = (instance: string, id: number, data: string) => event(instance, 1, id, { type: "ExternalEvent", name: "Evt", data });

  test("an instance deleted and started again by another connection with the same event ids is read afresh", async () => {
    const path = freshPath();
    const a = await SqliteProvider.open(path);
    const b = await SqliteProvider.open(path);
    await createRunningInstance(a, "S", { extraEvents: [ext("S", 2, "old")] });
    await a.enqueueForOrchestrator(externalRaisedItem("S", "Evt", "x"), null);
    const t1 = await fetchOrch(a, 30_000);
    expect(t1.item.history.map((e) => e.event_id)).toEqual([1, 2]);
    await a.abandonOrchestrationItem(t1.lockToken, null, true);
    // b deletes S and starts it again; the new execution reaches the same ends (ids 1 and 2).
    await b.asManagementCapability().deleteInstance("S", true);
    await new Promise((r) => setTimeout(r, 2)); // new events get other timestamps than the old ones
    await createRunningInstance(b, "S", { extraEvents: [ext("S", 2, "new")] });
    const fresh = await b.read("S");
    await b.enqueueForOrchestrator(externalRaisedItem("S", "Evt", "y"), null);
    const t2 = await fetchOrch(a, 30_000);
    expect(t2.item.instance).toBe("S");
    expect(t2.item.history).toEqual(fresh); // stale: the deleted incarnation's events
    await a.abandonOrchestrationItem(t2.lockToken, null, true);
    a.close();
    b.close();
  });

  test("KV merged by another connection's continue-as-new is in this connection's next kv_snapshot", async () => {
    const path = freshPath();
    const a = await SqliteProvider.open(path);
    const b = await SqliteProvider.open(path);
    // a runs the first turn (its cache now holds K with its committed KV: none).
    await createRunningInstance(a, "K", { extraEvents: [kvSetEvent("K", 1, 2, "k", "v")] });
    // b continues K as new: the overlay (k = v) merges into the committed KV.
    await b.enqueueForOrchestrator(externalRaisedItem("K", "Evt", "poke"), null);
    const t1 = await fetchOrch(b, 30_000);
    await b.ackOrchestrationItem(t1.lockToken, 1, [continuedAsNewEvent("K", 1, 3)], [], [continueAsNewItem("K")], terminalMeta("ContinuedAsNew", "{}"), []);
    const t2 = await fetchOrch(a, 30_000);
    expect(t2.item.instance).toBe("K");
    expect(Object.keys(t2.item.kv_snapshot)).toEqual(["k"]); // stale: {}
    await a.abandonOrchestrationItem(t2.lockToken, null, true);
    a.close();
    b.close();
  });

  test("a fetch in the same group commit as the continue-as-new ack that merged KV sees the merged KV", async () => {
    const p = await SqliteProvider.open(freshPath()); // file-backed: group commit on
    await p.enqueueForOrchestrator(startItem("G"), null);
    const t1 = await fetchOrch(p, 30_000); // caches G with its committed KV (none)
    // The ack continues G as new (merging k = v); the fetch, queued in the same turn of the event
    // loop, runs in the same batch after it and takes the ContinueAsNew message it enqueued.
    const ack = p.ackOrchestrationItem(
      t1.lockToken,
      1,
      [startedEvent("G"), kvSetEvent("G", 1, 2, "k", "v"), continuedAsNewEvent("G", 1, 3)],
      [],
      [continueAsNewItem("G")],
      terminalMeta("ContinuedAsNew", "{}"),
      [],
    );
    const fetched = p.fetchOrchestrationItem(30_000, 0);
    await ack;
    const t2 = await fetched;
    expect(t2?.item.instance).toBe("G");
    expect(Object.keys(t2!.item.kv_snapshot)).toEqual(["k"]); // stale: {}
    expect(await p.getKvAllValues("G")).toEqual({ k: "v" });
    p.close();
  });
});

describe("getInstanceInfo: review", () => {
  test("reads the instance row and its current execution in one snapshot (another connection's terminal commit lands between the two probes)", async () => {
    const path = freshPath();
    const a = await SqliteProvider.open(path);
    await createRunningInstance(a, "I");
    const raw = new Database(path);
    raw.run("PRAGMA busy_timeout = 5000");
    // Another process completes I and sets its final custom status, in one transaction, right
    // before the provider's read of the execution row (if it reads it apart from the instance row).
    const finish = raw.transaction(() => {
      raw.run(`UPDATE executions SET status = 'Completed', output = '"out"' WHERE instance_id = 'I'`);
      raw.run(`UPDATE instances SET custom_status = 'done', custom_status_version = custom_status_version + 1 WHERE instance_id = 'I'`);
    });
    const orig = Database.prototype.query;
    let armed = true;
    Database.prototype.query = function (this: Database, sql: string) {
      const st = orig.call(this, sql);
      if (this === raw || !/^SELECT status, output FROM executions/.test(sql)) return st;
      return new Proxy(st, {
        get(target, prop) {
          if (prop !== "get") return Reflect.get(target, prop, target);
          return (...args: unknown[]) => {
            if (armed) finish();
            armed = false;
            return (target.get as (...a: unknown[]) => unknown)(...args);
          };
        },
      });
    } as typeof orig;
    try {
      armed = true;
      const info = await a.asManagementCapability().getInstanceInfo("I");
      if (armed) finish(); // one statement: the commit lands after it instead
      // Either snapshot is fine; a mix (Completed without its final custom status) is not.
      const seen = [info.status, info.custom_status ?? null];
      expect([["Running", null], ["Completed", "done"]]).toContainEqual(seen);
    } finally {
      Database.prototype.query = orig;
      raw.close();
      a.close();
    }
  });
});

describe("fetchOrchestrationItem when the database fails while reading history", () => {
  test("the fetch fails with a ProviderError and claims nothing: the instance is not poisoned, and its message is fetched once the table is back", async () => {
    const path = freshPath();
    const p = await SqliteProvider.open(path);
    await createRunningInstance(p, "H");
    await p.enqueueForOrchestrator(externalRaisedItem("H", "Evt", "x"), null);
    // Another connection takes the history table away (a stand-in for an I/O error on the read).
    const other = new Database(path);
    other.run("ALTER TABLE history RENAME TO history_away");
    const err = await p.fetchOrchestrationItem(30_000, 0).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ProviderError);
    expect((err as ProviderError).message).toMatch(/history/);
    other.run("ALTER TABLE history_away RENAME TO history");
    other.close();
    const f = await fetchOrch(p, 30_000);
    expect(f.item.instance).toBe("H");
    expect(f.item.history_error).toBeNull();
    expect(f.item.history.length).toBe(1);
    expect(f.attemptCount).toBe(1); // the failed fetch was rolled back, attempt count included
    await p.abandonOrchestrationItem(f.lockToken, null, true);
    p.close();
  });
});
