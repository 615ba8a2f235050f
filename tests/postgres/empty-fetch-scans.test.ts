// An empty fetch tells its caller when to look again: the next item to become visible, or the next
// lock to expire (its holder may have died). Under a backlog most worker fetches come back empty
// (what is visible is locked), so that lookup runs often, and a table scan there reads every dead
// row of the queue's churn: about 1 ms per empty fetch at the 0 ms stress load, 8% of the server's
// CPU, before the lookup walked the index (docs/provider-contract.md §16.4). These tests run the
// fetch functions directly, in a transaction on one connection, and read that transaction's own
// scan counters (pg_stat_xact_user_tables), which do not wait for the statistics to be flushed.
import { expect } from "bun:test";
import { TagFilter } from "../../src/core/queue-types.ts";
import { activityItem, startItem } from "../../src/provider-tests/helpers.ts";
import { postgresForTests } from "../providers/postgres-server.ts";
import { freshSchema, postgresTestKit, scansOfQuery } from "./helpers.ts";

const pg = await postgresForTests();
const { connect, pgTest } = postgresTestKit(pg, { poolMax: 2 });

const scansOf = (schema: string, table: string, query: string) => scansOfQuery(pg.url!, schema, table, query);

pgTest("an empty worker fetch reports when the held item's lock expires without scanning the worker queue", async () => {
  const schema = freshSchema();
  const a = await connect(schema, { workerClaimAhead: 0 }); // every item locked for exactly 30 s
  // Churn: rows acked (dead) ahead of the one that stays locked.
  for (let i = 1; i <= 20; i++) await a.enqueueForWorker(activityItem("scan-w", i));
  for (let i = 1; i <= 20; i++) {
    const w = await a.fetchWorkItem(30_000, 0, null, TagFilter.defaultOnly());
    if (i < 20) await a.ackWorkItem(w!.lockToken, null);
  }
  const { row, seqScans } = await scansOf(schema, "worker_queue", `SELECT * FROM "${schema}".fetch_work(30000, 'default', '{}', false, '', 0)`);
  expect(row.o_token).toBeNull();
  // The lock of the item still held: about 30 s from now.
  expect(Number(row.o_next_due_ms)).toBeGreaterThan(25_000);
  expect(Number(row.o_next_due_ms)).toBeLessThanOrEqual(30_000);
  expect(seqScans).toBe(0);
});

pgTest("an empty orchestrator fetch reports when the held instance's lock expires without scanning the queue or the locks", async () => {
  const schema = freshSchema();
  const a = await connect(schema);
  await a.enqueueForOrchestrator(startItem("scan-o"), null);
  expect((await a.fetchOrchestrationItem(30_000, 0))?.item.instance).toBe("scan-o");
  // A message for the locked instance: visible, not fetchable until the lock goes.
  await a.enqueueForOrchestrator(startItem("scan-o"), null);
  const query = `SELECT * FROM "${schema}".fetch_orch_tail(30000, false, '{0,0,0}', '{0,0,0}', 100, NULL)`;
  const queue = await scansOf(schema, "orchestrator_queue", query);
  expect(queue.row.o_token).toBeNull();
  expect(Number(queue.row.o_next_due_ms)).toBeGreaterThan(25_000);
  expect(Number(queue.row.o_next_due_ms)).toBeLessThanOrEqual(30_000);
  expect(queue.seqScans).toBe(0);
  expect((await scansOf(schema, "instance_locks", query)).seqScans).toBe(0);
});
