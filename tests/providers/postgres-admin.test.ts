// PostgresProviderAdmin against a throw-away server, on rows written by the schema's own functions
// (enqueue_orch / fetch_orch / ack_orch) or by plain SQL: what the provider suite cannot reach
// (races with a fetch or an ack in another session, bad data, stored-text decoding, Q9).
// The server is DUROXIDE_PG_URL or the process's shared throw-away one; without either the file is
// skipped with the reason, except under CI, where that is a failure.
import { afterEach, describe, expect, test } from "bun:test";
import { SQL } from "bun";
import type { Event } from "../../src/core/events.ts";
import { ProviderError, type ProviderErrorKind } from "../../src/core/errors.ts";
import { PostgresProviderAdmin } from "../../src/providers/postgres/admin.ts";
import { AdminWrites } from "../../src/providers/postgres/admin-delete.ts";
import { migrate } from "../../src/providers/postgres/migrate.ts";
import { quoted } from "../../src/providers/postgres/options.ts";
import { encodeText } from "../../src/providers/postgres/text-codec.ts";
import { completedEvent, continuedAsNewEvent, startedEvent } from "../../src/provider-tests/helpers.ts";
import { pgTestUrl } from "../../src/testing/throwaway-postgres.ts";

const available = await pgTestUrl();
if ("reason" in available && process.env.CI) throw new Error(`CI is set and no PostgreSQL server is available: ${available.reason}`);
const url = "url" in available ? available.url : null;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function expectKind(p: Promise<unknown>, kind: ProviderErrorKind): Promise<ProviderError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(ProviderError);
    expect((err as ProviderError).kind).toBe(kind);
    return err as ProviderError;
  }
  throw new Error(`expected a ${kind} ProviderError`);
}

/** One schema per test; `sql` is the admin's pool, `other` a second pool playing another process. */
interface Env {
  sql: SQL;
  other: SQL;
  q: string;
  schema: string;
  admin: PostgresProviderAdmin;
}

let env: Env | null = null;

async function fresh(): Promise<Env> {
  const schema = `adm_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
  const sql = new SQL(url!, { max: 4 });
  const other = new SQL(url!, { max: 4 });
  await migrate(sql, schema, true);
  env = { sql, other, q: quoted(schema), schema, admin: new PostgresProviderAdmin(sql, schema) };
  return env;
}

afterEach(async () => {
  if (env === null) return;
  const { sql, other, q } = env;
  env = null;
  await other.close({ timeout: 1 }).catch(() => {});
  await sql.unsafe(`DROP SCHEMA IF EXISTS ${q} CASCADE`).catch(() => {});
  await sql.close({ timeout: 1 }).catch(() => {});
});

const startJson = (instance: string) => JSON.stringify({ type: "StartOrchestration", instance, orchestration: "O", input: "{}", version: "1.0.0", parent_instance: null, parent_id: null });

/** Claims the oldest visible batch through fetch_orch; its token, or null. */
async function claim(sql: SQL, q: string, lockMs = 30_000): Promise<{ instance: string; token: string } | null> {
  const r = (await sql.unsafe(`SELECT * FROM ${q}.fetch_orch($1::bigint, false, '{0,0,0}'::int[], '{0,0,0}'::int[])`, [lockMs]))[0];
  return r.o_token === null ? null : { instance: r.o_instance, token: r.o_token };
}

interface Turn {
  events: Event[];
  status?: string | null;
  output?: string | null;
  parent?: string | null;
  workerItems?: number;
  kv?: [string, string][];
}

async function ack(sql: SQL, q: string, token: string, executionId: number, t: Turn): Promise<void> {
  const inst = (await sql.unsafe(`SELECT instance_id FROM ${q}.instance_locks WHERE lock_token = $1`, [token]))[0]?.instance_id ?? "x";
  const w = Array.from({ length: t.workerItems ?? 0 }, (_, i) => i + 10);
  const kv = t.kv ?? [];
  await sql.unsafe(
    `SELECT ${q}.ack_orch($1::text, $2::bigint, $3::bigint[], $4::text[], $5::text[],
       $6::text[], $7::text[], $8::bigint[], $9::bigint[], $10::text[], $11::text[],
       $12::text[], $13::text[], $14::text[], $15::bigint[],
       $16::text, $17::text, $18::text, $19::text, $20::text, $21::int[],
       $22::boolean, $23::text, $24::text[], $25::text[], $26::text[], $27::bigint[],
       $28::text[], $29::bigint[], $30::bigint[])`,
    [
      token, executionId,
      t.events.map((e) => e.event_id), t.events.map((e) => e.type), t.events.map((e) => JSON.stringify(e)),
      w.map((id) => `{"activity":${id}}`), w.map(() => inst), w.map(() => executionId), w, w.map(() => null), w.map(() => null),
      [], [], [], [],
      "O", "1.0.0", t.parent ?? null, t.status ?? "Running", encodeText(t.output ?? null), null,
      false, null,
      kv.map(() => "set"), kv.map(([k]) => k), kv.map(([, v]) => v), kv.map(() => 1),
      [], [], [],
    ],
  );
}

/** Starts `instance` and acks its first turn (execution 1). */
async function create(e: Env, instance: string, t: Omit<Turn, "events"> & { events?: Event[] } = {}): Promise<void> {
  await e.sql.unsafe(`SELECT ${e.q}.enqueue_orch($1, 'StartOrchestration', $2, 0)`, [instance, startJson(instance)]);
  const c = await claim(e.sql, e.q);
  expect(c?.instance).toBe(instance);
  const events = t.events ?? [startedEvent(instance, 1), ...(t.status && t.status !== "Running" ? [completedEvent(instance, 1, 2)] : [])];
  await ack(e.sql, e.q, c!.token, 1, { ...t, events });
}

/** A ContinueAsNew chain: executions 1..n-1 ContinuedAsNew, the last `last`. */
async function chain(e: Env, instance: string, n: number, last = "Completed"): Promise<void> {
  for (let x = 1; x <= n; x++) {
    await e.sql.unsafe(`SELECT ${e.q}.enqueue_orch($1, 'StartOrchestration', $2, 0)`, [instance, startJson(instance)]);
    const c = await claim(e.sql, e.q);
    const status = x === n ? last : "ContinuedAsNew";
    const events = [startedEvent(instance, x), ...(status === "ContinuedAsNew" ? [continuedAsNewEvent(instance, x, 2)] : [])];
    await ack(e.sql, e.q, c!.token, x, { events, status, output: status === "Running" ? null : "{}" });
  }
}

async function counts(e: Env, instance: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const t of ["instances", "executions", "history", "orchestrator_queue", "worker_queue", "instance_locks", "kv_store", "kv_delta"]) {
    out[t] = Number((await e.sql.unsafe(`SELECT count(*) AS n FROM ${e.q}.${t} WHERE instance_id = $1`, [instance]))[0].n);
  }
  return out;
}
const NONE = { instances: 0, executions: 0, history: 0, orchestrator_queue: 0, worker_queue: 0, instance_locks: 0, kv_store: 0, kv_delta: 0 };

if (url === null) {
  test.skip(`PostgresProviderAdmin [skipped: ${"reason" in available ? available.reason : ""}]`, () => {});
} else {
  describe("PostgresProviderAdmin reads", () => {
    test("listings order newest first (ties by id), info decodes stored text, status/version defaults", async () => {
      const e = await fresh();
      await create(e, "b", { status: "Completed", output: "nul\u0000inside" });
      await create(e, "a", { status: "Failed", output: "\u0001dx-json:looks encoded" });
      await create(e, "c");
      await e.sql.unsafe(`UPDATE ${e.q}.instances SET created_at = CASE instance_id WHEN 'c' THEN 5 ELSE 7 END`);
      expect(await e.admin.listInstances()).toEqual(["b", "a", "c"]);
      expect(await e.admin.listInstancesByStatus("Running")).toEqual(["c"]);
      expect(await e.admin.listInstancesByStatus("Completed")).toEqual(["b"]);

      const b = await e.admin.getInstanceInfo("b");
      expect(b).toEqual({
        instance_id: "b", orchestration_name: "O", orchestration_version: "1.0.0", current_execution_id: 1, status: "Completed",
        output: "nul\u0000inside", created_at: 7, updated_at: b.updated_at, parent_instance_id: null,
        custom_status: null, custom_status_version: 0,
      });
      expect(typeof b.updated_at).toBe("number");
      expect((await e.admin.getInstanceInfo("a")).output).toBe("\u0001dx-json:looks encoded");
      const x = await e.admin.getExecutionInfo("b", 1);
      expect(x).toEqual({ execution_id: 1, status: "Completed", output: "nul\u0000inside", started_at: x.started_at, completed_at: x.completed_at, event_count: 2 });
      expect(typeof x.completed_at).toBe("number");
      expect((await e.admin.getExecutionInfo("c", 1)).completed_at).toBeNull();
      await expectKind(e.admin.getExecutionInfo("b", 2), "NotFound");
      await expectKind(e.admin.getInstanceInfo("zz"), "NotFound");

      // No version stored, no execution row: "unknown" and "Running".
      await e.sql.unsafe(`INSERT INTO ${e.q}.instances (instance_id, orchestration_name, created_at, updated_at) VALUES ('bare', 'O', 1, 1)`);
      const bare = await e.admin.getInstanceInfo("bare");
      expect([bare.orchestration_version, bare.status, bare.output]).toEqual(["unknown", "Running", null]);

      expect(await e.admin.getSystemMetrics()).toEqual({
        total_instances: 4, total_executions: 3, running_instances: 1, completed_instances: 1, failed_instances: 1, total_events: 5,
      });
    });

    test("executions and history: ascending ids, latest execution, 1 when unknown, undecodable history is Corrupt", async () => {
      const e = await fresh();
      await chain(e, "can", 3);
      expect(await e.admin.listExecutions("can")).toEqual([1, 2, 3]);
      expect(await e.admin.listExecutions("nope")).toEqual([]);
      expect(await e.admin.latestExecutionId("can")).toBe(3);
      expect(await e.admin.latestExecutionId("nope")).toBe(1);
      expect((await e.admin.readHistory("can")).map((x) => [x.execution_id, x.type])).toEqual([[3, "OrchestrationStarted"]]);
      expect((await e.admin.readHistoryWithExecutionId("can", 1)).map((x) => x.type)).toEqual(["OrchestrationStarted", "OrchestrationContinuedAsNew"]);
      expect(await e.admin.readHistory("nope")).toEqual([]);
      expect(await e.admin.listInstancesByStatus("ContinuedAsNew")).toEqual([]);
      await e.sql.unsafe(`UPDATE ${e.q}.history SET event_data = 'NOT_JSON{' WHERE instance_id = 'can' AND execution_id = 3`);
      const err = await expectKind(e.admin.readHistory("can"), "Corrupt");
      expect(err.operation).toBe("readHistory");
      expect(err.retryable).toBe(false);
    });

    test("queue depths: a live lock hides its batch, an expired lock's stale tag does not (Q9), server clock", async () => {
      const e = await fresh();
      expect(await e.admin.getQueueDepths()).toEqual({ orchestrator_queue: 0, worker_queue: 0, timer_queue: 0 });
      await e.sql.unsafe(`SELECT ${e.q}.enqueue_orch('i1', 'StartOrchestration', $1, 0)`, [startJson("i1")]);
      await e.sql.unsafe(`SELECT ${e.q}.enqueue_orch('i2', 'StartOrchestration', $1, 60000)`, [startJson("i2")]);
      expect((await e.admin.getQueueDepths()).orchestrator_queue).toBe(2);
      const c = await claim(e.sql, e.q, 30_000);
      expect((await e.admin.getQueueDepths()).orchestrator_queue).toBe(1);
      await e.sql.unsafe(`UPDATE ${e.q}.instance_locks SET locked_until = ${e.q}.now_ms() - 1 WHERE lock_token = $1`, [c!.token]);
      expect((await e.admin.getQueueDepths()).orchestrator_queue).toBe(2);

      await e.sql.unsafe(`SELECT ${e.q}.enqueue_worker('{}', 'i1', 1, 1, NULL, NULL)`);
      await e.sql.unsafe(`SELECT ${e.q}.enqueue_worker('{}', 'i1', 1, 2, NULL, NULL)`);
      await e.sql.unsafe(`SELECT * FROM ${e.q}.fetch_work(30000, 'any', '{}', false, 'w', 0)`);
      expect((await e.admin.getQueueDepths()).worker_queue).toBe(1);
      await e.sql.unsafe(`UPDATE ${e.q}.worker_queue SET locked_until = ${e.q}.now_ms() - 1 WHERE lock_token IS NOT NULL`);
      expect((await e.admin.getQueueDepths()).worker_queue).toBe(2);
    });

    test("hierarchy: children oldest first, parent or NotFound, breadth-first tree that survives a cycle in bad data", async () => {
      const e = await fresh();
      await create(e, "r");
      await create(e, "r-2", { parent: "r" });
      await create(e, "r-1", { parent: "r" });
      await create(e, "r-2-1", { parent: "r-2" });
      await create(e, "r-1-1", { parent: "r-1" });
      await e.sql.unsafe(`UPDATE ${e.q}.instances SET created_at = CASE instance_id WHEN 'r-1' THEN 20 WHEN 'r-2' THEN 10 ELSE 30 END`);
      expect(await e.admin.listChildren("r")).toEqual(["r-2", "r-1"]);
      expect(await e.admin.listChildren("r-2-1")).toEqual([]);
      expect(await e.admin.listChildren("unknown")).toEqual([]);
      expect(await e.admin.getParentId("r-2-1")).toBe("r-2");
      expect(await e.admin.getParentId("r")).toBeNull();
      await expectKind(e.admin.getParentId("unknown"), "NotFound");
      expect(await e.admin.getInstanceTree("r")).toEqual({ root_id: "r", all_ids: ["r", "r-2", "r-1", "r-2-1", "r-1-1"] });
      expect(await e.admin.getInstanceTree("r-1")).toEqual({ root_id: "r-1", all_ids: ["r-1", "r-1-1"] });
      expect(await e.admin.getInstanceTree("unknown")).toEqual({ root_id: "unknown", all_ids: ["unknown"] });
      // Bad data: r's parent is its own grandchild, and a self-parented row.
      await e.sql.unsafe(`UPDATE ${e.q}.instances SET parent_instance_id = 'r-1-1' WHERE instance_id = 'r'`);
      expect((await e.admin.getInstanceTree("r-1")).all_ids).toEqual(["r-1", "r-1-1", "r", "r-2", "r-2-1"]);
      await e.sql.unsafe(`UPDATE ${e.q}.instances SET parent_instance_id = instance_id WHERE instance_id = 'r-2-1'`);
      expect((await e.admin.getInstanceTree("r-2-1")).all_ids).toEqual(["r-2-1"]);
    });

    test("arguments are validated before touching storage; a closed provider's admin fails with Closed", async () => {
      const e = await fresh();
      await expectKind(e.admin.listExecutions(""), "InvalidArgument");
      await expectKind(e.admin.readHistoryWithExecutionId("x", 0), "InvalidArgument");
      await expectKind(e.admin.listInstancesByStatus(""), "InvalidArgument");
      await expectKind(e.admin.deleteInstancesAtomic(["ok", ""], true), "InvalidArgument");
      await expectKind(e.admin.deleteInstanceBulk({ limit: -1 }), "InvalidArgument");
      await expectKind(e.admin.pruneExecutions("x", { keep_last: 1.5 }), "InvalidArgument");
      await expectKind(e.admin.pruneExecutionsBulk({}, { completed_before: Number.NaN }), "InvalidArgument");
      let closed = false;
      const admin = new PostgresProviderAdmin(e.other, e.schema, () => closed);
      expect(await admin.listInstances()).toEqual([]);
      closed = true;
      await e.other.close({ timeout: 1 });
      await expectKind(admin.listInstances(), "Closed");
      await expectKind(admin.deleteInstance("x", true), "Closed");
      // Without the hook a closed pool is a (retryable) connection failure, never an unmapped error.
      const bare = await expectKind(new PostgresProviderAdmin(e.other, e.schema).listInstances(), "Unavailable");
      expect(bare.retryable).toBe(true);
    });
  });

  describe("PostgresProviderAdmin deletes and prunes", () => {
    test("deleteInstance removes every table's rows of the whole tree and reports them; NotFound / NotRoot / InstanceRunning", async () => {
      const e = await fresh();
      await create(e, "root", { status: "Completed", kv: [["k", "v"]], workerItems: 2 });
      await create(e, "kid", { parent: "root", status: "Completed" });
      await create(e, "grandkid", { parent: "kid", kv: [["k2", "v2"]] }); // Running, KV in the overlay
      await e.sql.unsafe(`SELECT ${e.q}.enqueue_orch('root', 'ExternalRaised', '{}', 0)`);
      await claim(e.sql, e.q); // root's lock row, live
      await e.sql.unsafe(`SELECT ${e.q}.enqueue_orch('grandkid', 'ExternalRaised', '{}', 60000)`);
      expect((await counts(e, "root")).kv_store).toBe(1);
      expect((await counts(e, "grandkid")).kv_delta).toBe(1);
      await create(e, "keep", { status: "Completed" });

      await expectKind(e.admin.deleteInstance("nope", true), "NotFound");
      await expectKind(e.admin.deleteInstance("kid", true), "NotRoot");
      const running = await expectKind(e.admin.deleteInstance("root", false), "InstanceRunning");
      expect(running.message).toContain("grandkid");
      expect((await counts(e, "root")).instance_locks).toBe(1);

      const r = await e.admin.deleteInstance("root", true);
      expect(r).toEqual({ instances_deleted: 3, executions_deleted: 3, events_deleted: 5, queue_messages_deleted: 4 });
      for (const id of ["root", "kid", "grandkid"]) expect(await counts(e, id)).toEqual(NONE);
      expect((await counts(e, "keep")).instances).toBe(1);
      expect(await e.admin.listInstances()).toEqual(["keep"]);
    });

    test("deleteInstancesAtomic: all or nothing (WouldOrphan even forced, InstanceRunning without force), duplicates counted once", async () => {
      const e = await fresh();
      await create(e, "p", { status: "Completed" });
      await create(e, "c", { parent: "p", status: "Completed" });
      await create(e, "run");
      const orphan = await expectKind(e.admin.deleteInstancesAtomic(["run", "p"], true), "WouldOrphan");
      expect(orphan.message).toContain("c");
      await expectKind(e.admin.deleteInstancesAtomic(["p", "c", "run"], false), "InstanceRunning");
      expect((await e.admin.listInstances()).toSorted()).toEqual(["c", "p", "run"]);
      expect(await e.admin.deleteInstancesAtomic([], false)).toEqual({ instances_deleted: 0, executions_deleted: 0, events_deleted: 0, queue_messages_deleted: 0 });
      const r = await e.admin.deleteInstancesAtomic(["c", "p", "c", "ghost"], false);
      expect(r).toEqual({ instances_deleted: 2, executions_deleted: 2, events_deleted: 4, queue_messages_deleted: 0 });
      expect(await e.admin.listInstances()).toEqual(["run"]);
    });

    test("deleteInstanceBulk: terminal roots only, oldest first up to limit, whole trees, completed_before on the server clock", async () => {
      const e = await fresh();
      for (const id of ["t1", "t2", "t3"]) await create(e, id, { status: "Completed" });
      await create(e, "t1-kid", { parent: "t1" }); // Running child: deleted with its terminal root
      await create(e, "live");
      await e.sql.unsafe(`UPDATE ${e.q}.instances SET created_at = CASE instance_id WHEN 't3' THEN 1 WHEN 't1' THEN 2 ELSE 3 END`);
      expect((await e.admin.deleteInstanceBulk({ completed_before: 0 })).instances_deleted).toBe(0);
      expect((await e.admin.deleteInstanceBulk({ instance_ids: [] })).instances_deleted).toBe(0);
      expect((await e.admin.deleteInstanceBulk({ instance_ids: ["t1-kid", "live"] })).instances_deleted).toBe(0);
      const r = await e.admin.deleteInstanceBulk({ limit: 2 });
      expect(r).toEqual({ instances_deleted: 3, executions_deleted: 3, events_deleted: 5, queue_messages_deleted: 0 });
      expect((await e.admin.listInstances()).toSorted()).toEqual(["live", "t2"]);
      const now = Number((await e.sql.unsafe(`SELECT ${e.q}.now_ms() AS n`))[0].n);
      expect((await e.admin.deleteInstanceBulk({ completed_before: now + 1.5, limit: Number.MAX_SAFE_INTEGER })).instances_deleted).toBe(1);
      expect(await e.admin.listInstances()).toEqual(["live"]);
    });

    test("prunes: keep_last, completed_before, Running current protected, bulk selection and limit, KV untouched", async () => {
      const e = await fresh();
      await chain(e, "a", 4);
      await chain(e, "b", 3, "Running");
      await chain(e, "c", 2);
      await e.sql.unsafe(`UPDATE ${e.q}.executions SET completed_at = 100 * execution_id WHERE completed_at IS NOT NULL`);
      expect(await e.admin.pruneExecutions("a", { completed_before: 150 })).toEqual({ instances_processed: 1, executions_deleted: 1, events_deleted: 2 });
      expect(await e.admin.listExecutions("a")).toEqual([2, 3, 4]);
      expect(await e.admin.pruneExecutions("a", { keep_last: 2 })).toEqual({ instances_processed: 1, executions_deleted: 1, events_deleted: 2 });
      expect(await e.admin.listExecutions("a")).toEqual([3, 4]);
      await expectKind(e.admin.pruneExecutions("ghost", {}), "NotFound");

      // Selection: b is Running (completed_at null), so a completed_before filter leaves it out.
      expect(await e.admin.pruneExecutionsBulk({ completed_before: 1000 }, { keep_last: 0 })).toEqual({ instances_processed: 2, executions_deleted: 2, events_deleted: 4 });
      expect(await e.admin.listExecutions("b")).toEqual([1, 2, 3]);
      expect(await e.admin.pruneExecutionsBulk({ instance_ids: [] }, {})).toEqual({ instances_processed: 0, executions_deleted: 0, events_deleted: 0 });
      await e.sql.unsafe(`UPDATE ${e.q}.instances SET created_at = CASE instance_id WHEN 'b' THEN 1 ELSE 2 END`);
      expect(await e.admin.pruneExecutionsBulk({ limit: 1 }, {})).toEqual({ instances_processed: 1, executions_deleted: 2, events_deleted: 4 });
      expect(await e.admin.listExecutions("b")).toEqual([3]);
      expect((await e.admin.getInstanceInfo("b")).status).toBe("Running");
    });
  });

  describe("PostgresProviderAdmin against other sessions", () => {
    test("a force delete waits for an ack in flight and removes what it wrote; the ack's retry is LockLost", async () => {
      const e = await fresh();
      await create(e, "busy");
      await e.sql.unsafe(`SELECT ${e.q}.enqueue_orch('busy', 'ExternalRaised', '{}', 0)`);
      const c = await claim(e.sql, e.q);
      // Another process's ack, mid-flight: holds the lock row, has written history and a message.
      let releaseAck!: () => void;
      const ackGate = new Promise<void>((r) => (releaseAck = r));
      let acked!: () => void;
      const ackHolding = new Promise<void>((r) => (acked = r));
      const ackTx = e.other.begin(async (tx) => {
        await tx.unsafe(`SELECT 1 FROM ${e.q}.instance_locks WHERE lock_token = $1 FOR UPDATE`, [c!.token]);
        await tx.unsafe(`INSERT INTO ${e.q}.history VALUES ('busy', 1, 2, 'ExternalEvent', '{}', 0)`);
        await tx.unsafe(`INSERT INTO ${e.q}.orchestrator_queue (instance_id, kind, work_item, visible_at, created_at) VALUES ('busy', 'TimerFired', '{}', 0, 0)`);
        acked();
        await ackGate;
      });
      await ackHolding;
      let done = false;
      const del = e.admin.deleteInstance("busy", true).then((r) => ((done = true), r));
      await sleep(300);
      expect(done).toBe(false);
      releaseAck();
      await ackTx;
      const r = await del;
      expect(r).toEqual({ instances_deleted: 1, executions_deleted: 1, events_deleted: 2, queue_messages_deleted: 2 });
      expect(await counts(e, "busy")).toEqual(NONE);
      const err = await e.other
        .unsafe(`SELECT ${e.q}.ack_orch($1, 1, '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', 'O', '1.0.0', NULL, 'Running', NULL, NULL, false, NULL, '{}', '{}', '{}', '{}', '{}', '{}', '{}')`, [c!.token])
        .then(() => null, (x: unknown) => x as { errno?: string });
      expect(err?.errno).toBe("DXL01");
      expect(await counts(e, "busy")).toEqual(NONE);
    });

    test("while a delete holds an instance, another process's fetch skips it (same advisory key as fetch_orch); afterwards nothing is left to fetch", async () => {
      const e = await fresh();
      await create(e, "victim");
      await create(e, "bystander");
      // An expired lock row of victim, held FOR UPDATE elsewhere: the delete blocks after taking its advisory locks.
      await e.sql.unsafe(`INSERT INTO ${e.q}.instance_locks VALUES ('victim', 'old-token', 0, 0)`);
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      let holding!: () => void;
      const held = new Promise<void>((r) => (holding = r));
      const blocker = e.other.begin(async (tx) => {
        await tx.unsafe(`SELECT 1 FROM ${e.q}.instance_locks WHERE instance_id = 'victim' FOR UPDATE`);
        holding();
        await gate;
      });
      await held;
      const del = e.admin.deleteInstance("victim", true);
      await sleep(300);
      await e.sql.unsafe(`SELECT ${e.q}.enqueue_orch('victim', 'ExternalRaised', '{}', 0)`);
      await e.sql.unsafe(`SELECT ${e.q}.enqueue_orch('bystander', 'ExternalRaised', '{}', 0)`);
      const first = await claim(e.other, e.q);
      expect(first?.instance).toBe("bystander");
      expect(await claim(e.other, e.q)).toBeNull();
      release();
      await blocker;
      expect((await del).instances_deleted).toBe(1);
      expect(await counts(e, "victim")).toEqual(NONE);
      expect(await claim(e.other, e.q)).toBeNull();
    });

    test("past the advisory-lock budget a delete locks with placeholder rows: a racing fetch waits, then finds nothing to claim", async () => {
      const e = await fresh();
      await create(e, "v1");
      await create(e, "v2");
      await e.sql.unsafe(`INSERT INTO ${e.q}.instance_locks VALUES ('v1', 'old-token', 0, 0)`);
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      let holding!: () => void;
      const held = new Promise<void>((r) => (holding = r));
      const blocker = e.other.begin(async (tx) => {
        await tx.unsafe(`SELECT 1 FROM ${e.q}.instance_locks WHERE instance_id = 'v1' FOR UPDATE`);
        holding();
        await gate;
      });
      await held;
      const writes = new AdminWrites(e.q, 0);
      const del = e.sql.begin((tx) => writes.deleteIds(tx, "deleteInstancesAtomic", ["v2", "v1"], true));
      await sleep(300); // v2's placeholder is in; the delete waits for v1's row
      await e.sql.unsafe(`SELECT ${e.q}.enqueue_orch('v2', 'ExternalRaised', '{}', 0)`);
      let fetched: { instance: string; token: string } | null | undefined;
      const fetch = claim(e.other, e.q).then((c) => (fetched = c));
      await sleep(300);
      expect(fetched).toBeUndefined(); // waiting on the placeholder, not claiming
      release();
      await blocker;
      expect((await del).instances_deleted).toBe(2);
      await fetch;
      expect(fetched).toBeNull();
      for (const id of ["v1", "v2"]) expect(await counts(e, id)).toEqual(NONE);
      expect(Number((await e.sql.unsafe(`SELECT count(*) AS n FROM ${e.q}.instance_locks`))[0].n)).toBe(0);

      // A refused delete leaves no placeholder behind.
      await create(e, "v3");
      await expectKind(e.sql.begin((tx) => writes.deleteIds(tx, "deleteInstancesAtomic", ["v3"], false)), "InstanceRunning");
      expect(await counts(e, "v3")).toEqual({ ...NONE, instances: 1, executions: 1, history: 1 });
    });

    test("concurrent deletes of overlapping sets and prunes of the same instances all finish, each row deleted once", async () => {
      const e = await fresh();
      const ids = Array.from({ length: 12 }, (_, i) => `m${i}`);
      for (const id of ids) await chain(e, id, 3);
      const admin2 = new PostgresProviderAdmin(e.other, e.schema);
      const results = await Promise.allSettled([
        e.admin.deleteInstancesAtomic(ids.slice(0, 8), true),
        admin2.deleteInstancesAtomic(ids.slice(4, 12).reverse(), true),
        e.admin.pruneExecutionsBulk({}, {}),
        admin2.pruneExecutionsBulk({ instance_ids: ids.toReversed() }, { keep_last: 2 }),
        e.admin.deleteInstanceBulk({}),
      ]);
      for (const r of results) if (r.status === "rejected") expect((r.reason as ProviderError).kind).toBe("Unavailable"); // a detected deadlock at worst
      const deleted = results
        .slice(0, 2)
        .concat(results.slice(4))
        .reduce((n, r) => n + (r.status === "fulfilled" ? (r.value as { instances_deleted: number }).instances_deleted : 0), 0);
      const left = (await e.admin.listInstances()).length;
      expect(deleted + left).toBe(12);
      expect(Number((await e.sql.unsafe(`SELECT count(*) AS n FROM ${e.q}.history WHERE instance_id NOT IN (SELECT instance_id FROM ${e.q}.instances)`))[0].n)).toBe(0);
    });
  });
}
