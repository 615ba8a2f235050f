// fetch_orch_tail's list of held instances (docs/provider-contract.md §16.3) with the capability
// filter: when nothing else is found the pick looks the listed instances' locks up, once. A listed
// instance that is stale (its lock gone) and pinned outside the fetch's filter is passed over by
// that second look too, and the fetch answers "nothing". Found by a review: the second look used
// to be repeated, and the pick alternated forever between "filtered: pass over it" and "nothing
// found: look at the listed ones again", a server function that never returned.
import { expect } from "bun:test";
import { SQL } from "bun";
import type { DispatcherCapabilityFilter } from "../../src/core/queue-types.ts";
import { externalRaisedItem, runningMeta, startItem, startedEvent } from "../../src/provider-tests/helpers.ts";
import { postgresForTests } from "../providers/postgres-server.ts";
import { freshSchema, postgresTestKit, within } from "./helpers.ts";

const pg = await postgresForTests();
const { connect, pgTest } = postgresTestKit(pg, { fallbackPollIntervalMs: 60_000, poolMax: 3 });

const v1Only: DispatcherCapabilityFilter = { supported_duroxide_versions: [{ min: { major: 1, minor: 0, patch: 0 }, max: { major: 1, minor: 99, patch: 99 } }] };

/** Cancels the statements of this test's schema still running on the server (the spinning fetch). */
async function cancelSpinning(schema: string): Promise<number> {
  const sql = new SQL(pg.url!, { max: 1 });
  try {
    const rows = await sql.unsafe(
      `SELECT pg_cancel_backend(pid) AS c FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND state = 'active' AND query LIKE $1`,
      [`%${schema}%fetch_orch_tail%`],
    );
    return rows.length;
  } finally {
    await sql.close();
  }
}

/** Instance `id` with one execution pinned at 2.0.0 and a visible message waiting, unlocked. */
async function pinnedAtV2WithWork(schema: string, id: string): Promise<void> {
  const p = await connect(schema);
  await p.enqueueForOrchestrator(startItem(id), null);
  const t = (await p.fetchOrchestrationItem(30_000, 0))!;
  expect(t.item.instance).toBe(id);
  await p.ackOrchestrationItem(t.lockToken, 1, [startedEvent(id)], [], [externalRaisedItem(id, "ping")], runningMeta("TestOrch", "1.0.0", { pinned_duroxide_version: { major: 2, minor: 0, patch: 0 } }), []);
}

pgTest("fetch_orch_tail returns when a passed-over instance is rejected by the capability filter and nothing else is visible", async () => {
  const schema = freshSchema();
  await pinnedAtV2WithWork(schema, "spin-x");
  const sql = new SQL(pg.url!, { max: 1 });
  try {
    const conn = await sql.reserve();
    try {
      await conn.unsafe("SET statement_timeout = '3s'");
      const started = performance.now();
      const answer = await conn
        .unsafe(`SELECT o_token, o_next_due_ms FROM "${schema}".fetch_orch_tail(30000, true, '{1,0,0}', '{1,99,99}', 100, ARRAY['spin-x'])`)
        .then((rows: Record<string, unknown>[]) => ({ token: rows[0]!.o_token, error: null as string | null }), (err: Error) => ({ token: null, error: err.message }));
      // Without the list the same fetch answers "nothing" at once; with it, it spins until cancelled.
      expect({ error: answer.error, token: answer.token }).toEqual({ error: null, token: null });
      expect(performance.now() - started).toBeLessThan(1_000);
    } finally {
      conn.release();
    }
  } finally {
    await sql.close();
  }
});

pgTest("a filtered fetch that still lists an instance deleted, re-created elsewhere and pinned outside its filter answers nothing at once", async () => {
  const schema = freshSchema();
  // Process "old" (runs 1.x) holds a turn of X.
  const old = await connect(schema);
  await old.enqueueForOrchestrator(startItem("spin-y"), null);
  const first = (await old.fetchOrchestrationItem(30_000, 0, v1Only))!;
  await old.ackOrchestrationItem(first.lockToken, 1, [startedEvent("spin-y")], [], [externalRaisedItem("spin-y", "e1")], runningMeta("TestOrch", "1.0.0", { pinned_duroxide_version: { major: 1, minor: 0, patch: 0 } }), []);
  const held = await old.fetchOrchestrationItem(30_000, 0, v1Only);
  expect(held?.item.instance).toBe("spin-y");
  // Another process deletes X (force) and starts it again under the same id; its runtime (2.x) pins it at 2.0.0.
  const other = await connect(schema);
  await other.asManagementCapability().deleteInstance("spin-y", true);
  await other.enqueueForOrchestrator(startItem("spin-y"), null);
  const t = (await other.fetchOrchestrationItem(30_000, 0))!;
  await other.ackOrchestrationItem(t.lockToken, 1, [startedEvent("spin-y")], [], [externalRaisedItem("spin-y", "ping")], runningMeta("TestOrch", "1.0.0", { pinned_duroxide_version: { major: 2, minor: 0, patch: 0 } }), []);
  // Old's next fetch (poll timeout 0) should answer null at once: X is not for 1.x.
  const fetch = old.fetchOrchestrationItem(30_000, 0, v1Only);
  try {
    const r = await within("the filtered fetch (poll timeout 0)", fetch, 5_000);
    expect(r).toBeNull();
  } finally {
    const cancelled = await cancelSpinning(schema);
    if (cancelled > 0) console.log(`cancelled ${cancelled} fetch_orch_tail still running on the server`);
    await fetch.catch(() => {});
  }
}, 30_000);
