// A worker fetch that claims ahead (docs/provider-contract.md §16.4) and whose own item cannot be
// decoded dead-letters it and goes on: it must take the items it has just claimed ahead (held in
// this process, older in queue order) before looking at the queue again, or it returns a newer one
// (queues are FIFO, §2.3, and held items come in the order a fetch sees). Found by a review.
import { expect } from "bun:test";
import { SQL } from "bun";
import { type FetchedWorkItem, TagFilter } from "../../src/core/queue-types.ts";
import { activityItem } from "../../src/provider-tests/helpers.ts";
import { postgresForTests } from "../providers/postgres-server.ts";
import { freshSchema, postgresTestKit } from "./helpers.ts";

const pg = await postgresForTests();
const { connect, pgTest } = postgresTestKit(pg, { fallbackPollIntervalMs: 60_000, poolMax: 3 });
const DEFAULT = TagFilter.defaultOnly();
const activityId = (w: FetchedWorkItem | null) => (w?.item.type === "ActivityExecute" ? w.item.id : null);

pgTest("after dead-lettering an undecodable first item, the fetch returns the oldest remaining item, not one past the items it claimed ahead", async () => {
  const schema = freshSchema();
  const a = await connect(schema);
  // A's fetches look busy: three found work just now.
  for (let i = 1; i <= 3; i++) await a.enqueueForWorker(activityItem("warm", i));
  const warm = [];
  for (let i = 0; i < 3; i++) warm.push(await a.fetchWorkItem(30_000, 0, null, DEFAULT));
  // The queue: an undecodable row, then activities 1..5.
  const sql = new SQL(pg.url!, { max: 1 });
  try {
    await sql.unsafe(`INSERT INTO "${schema}".worker_queue (work_item, visible_at, created_at) SELECT 'not json', n, n FROM "${schema}".now_ms() AS n`);
  } finally {
    await sql.close();
  }
  for (let i = 1; i <= 5; i++) await a.enqueueForWorker(activityItem("dl", i));
  const got: (number | null)[] = [];
  for (let i = 0; i < 5; i++) got.push(activityId(await a.fetchWorkItem(30_000, 0, null, DEFAULT)));
  for (const w of warm) await a.ackWorkItem(w!.lockToken, null);
  expect(got).toEqual([1, 2, 3, 4, 5]);
});
