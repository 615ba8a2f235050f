// Passing over held instances (src/providers/postgres/held-turns.ts, docs/provider-contract.md
// §16.3): an orchestrator fetch tells fetch_orch_tail which instances this process holds locks on,
// and the pick passes over their messages without looking their locks up; a stale list never hides
// work. The HeldTurns tests need no server.
import { describe, expect, test } from "bun:test";
import { SQL } from "bun";
import { ProviderError } from "../../src/core/errors.ts";
import type { FetchedOrchestration } from "../../src/core/queue-types.ts";
import { externalRaisedItem, runningMeta, startItem, startedEvent } from "../../src/provider-tests/helpers.ts";
import { HeldTurns, MAX_HELD_TURNS_PASSED } from "../../src/providers/postgres/held-turns.ts";
import { postgresForTests } from "../providers/postgres-server.ts";
import { freshSchema, postgresTestKit, scansOfQuery } from "./helpers.ts";

describe("HeldTurns", () => {
  test("an instance is listed from its fetch until its ack or abandon, or until its lock (as fetched or renewed) would have expired", () => {
    const h = new HeldTurns();
    h.hold("t1", "a", 1_000, 0);
    h.hold("t2", "b", 1_000, 0);
    expect(h.instances(500)).toEqual(["a", "b"]);
    h.release("t1");
    expect(h.instances(500)).toEqual(["b"]);
    h.renew("t2", 1_000, 900); // now held until 1900
    expect(h.instances(1_500)).toEqual(["b"]);
    expect(h.instances(1_900)).toEqual([]);
    expect(h.size).toBe(0); // dropped, not just left out
    h.renew("t2", 1_000, 2_000); // a renewal of a dropped or released token adds nothing
    expect(h.instances(2_000)).toEqual([]);
  });

  test(`at most ${MAX_HELD_TURNS_PASSED} instances are passed, the newest`, () => {
    const h = new HeldTurns();
    for (let i = 0; i < MAX_HELD_TURNS_PASSED + 5; i++) h.hold(`t${i}`, `i${i}`, 1_000, 0);
    const listed = h.instances(1);
    expect(listed.length).toBe(MAX_HELD_TURNS_PASSED);
    expect(listed[0]).toBe("i5");
    expect(listed[listed.length - 1]).toBe(`i${MAX_HELD_TURNS_PASSED + 4}`);
  });
});

const pg = await postgresForTests();
const { connect, pgTest } = postgresTestKit(pg, { fallbackPollIntervalMs: 60_000, poolMax: 3 });

pgTest("a fetch passes over the messages of an instance its caller holds without looking up its lock, and takes the next instance", async () => {
  const schema = freshSchema();
  const a = await connect(schema);
  await a.enqueueForOrchestrator(startItem("ht-held"), null);
  expect((await a.fetchOrchestrationItem(30_000, 0))?.item.instance).toBe("ht-held");
  // Ten messages for the held instance at the head of the queue, then one for another instance.
  for (let i = 0; i < 10; i++) await a.enqueueForOrchestrator(externalRaisedItem("ht-held", `e${i}`), null);
  await a.enqueueForOrchestrator(startItem("ht-next"), null);
  const fetch = (skip: string) => `SELECT * FROM "${schema}".fetch_orch_tail(30000, false, '{0,0,0}', '{0,0,0}', 100, ${skip})`;
  const looked = await scansOfQuery(pg.url!, schema, "instance_locks", fetch("NULL"));
  const passed = await scansOfQuery(pg.url!, schema, "instance_locks", fetch("ARRAY['ht-held']"));
  expect(looked.row.o_instance).toBe("ht-next");
  expect(passed.row.o_instance).toBe("ht-next");
  // Without the list: one lock lookup per message of the held instance.
  expect(looked.indexScans - passed.indexScans).toBeGreaterThanOrEqual(10);
});

pgTest("a stale list never hides work: an instance whose lock went away while this process still lists it is fetched when nothing else is visible", async () => {
  const schema = freshSchema();
  const a = await connect(schema);
  await a.enqueueForOrchestrator(startItem("ht-stale"), null);
  const held = await a.fetchOrchestrationItem(30_000, 0);
  expect(held?.item.instance).toBe("ht-stale");
  expect((a as unknown as { heldTurns: HeldTurns }).heldTurns.instances()).toEqual(["ht-stale"]);
  // The lock goes (as a delete from another process, or an expiry, would take it) while the turn is listed.
  const sql = new SQL(pg.url!, { max: 1 });
  try {
    await sql.unsafe(`DELETE FROM "${schema}".instance_locks WHERE instance_id = 'ht-stale'`);
  } finally {
    await sql.close();
  }
  await a.enqueueForOrchestrator(externalRaisedItem("ht-stale", "late"), null);
  const again = await a.fetchOrchestrationItem(30_000, 0);
  expect(again?.item.instance).toBe("ht-stale");
  expect(again?.item.messages.map((m) => m.type)).toContain("ExternalRaised");
});

pgTest("a turn's ack or abandon takes its instance off the list, whether it succeeds or fails", async () => {
  const schema = freshSchema();
  const a = await connect(schema);
  const listed = () => (a as unknown as { heldTurns: HeldTurns }).heldTurns.instances().toSorted();
  for (const id of ["ht-ack", "ht-abandon", "ht-lost"]) await a.enqueueForOrchestrator(startItem(id), null);
  const turns: FetchedOrchestration[] = [];
  for (let i = 0; i < 3; i++) turns.push((await a.fetchOrchestrationItem(30_000, 0))!);
  expect(listed()).toEqual(["ht-abandon", "ht-ack", "ht-lost"]);
  const byId = (id: string) => turns.find((t) => t.item.instance === id)!;
  await a.ackOrchestrationItem(byId("ht-ack").lockToken, 1, [startedEvent("ht-ack")], [], [], runningMeta(), []);
  expect(listed()).toEqual(["ht-abandon", "ht-lost"]);
  await a.abandonOrchestrationItem(byId("ht-abandon").lockToken, null, true);
  expect(listed()).toEqual(["ht-lost"]);
  // A lock gone behind this process's back: the ack fails LockLost, and nothing stays listed.
  const sql = new SQL(pg.url!, { max: 1 });
  try {
    await sql.unsafe(`DELETE FROM "${schema}".instance_locks WHERE instance_id = 'ht-lost'`);
  } finally {
    await sql.close();
  }
  const failed = await a.ackOrchestrationItem(byId("ht-lost").lockToken, 1, [startedEvent("ht-lost")], [], [], runningMeta(), []).then(
    () => "ok",
    (err: ProviderError) => err.kind,
  );
  expect(failed).toBe("LockLost");
  expect(listed()).toEqual([]);
});
