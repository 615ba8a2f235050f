// The terminal snapshot on PostgreSQL (docs/runtime-semantics.md §4.2): a fused start completing in
// its first turn, a failure, custom status, continue-as-new, a sub-orchestration and a cancel. What
// a wait returns equals what a status read returns right after (from a hostile review's probe).
import { afterAll, expect, test } from "bun:test";
import { ActivityRegistry, Client, OrchestrationRegistry, Runtime } from "../../src/index.ts";
import { PostgresProvider } from "../../src/providers/postgres.ts";
import { postgresForTests } from "../providers/postgres-server.ts";

const pg = await postgresForTests();
const schemas: string[] = [];
afterAll(async () => {
  if (pg.url !== null) for (const s of schemas) await PostgresProvider.dropSchema(pg.url, s);
});

const activities = ActivityRegistry.builder().register("Echo", async (_c, x: unknown) => x).build();
const orchestrations = OrchestrationRegistry.builder()
  .register("Quick", function* (_ctx, x: unknown) { return x; })
  .register("QuickFail", function* () { throw new Error("first turn"); })
  .register("QuickStatus", function* (ctx) { ctx.setCustomStatus("s"); return 1; })
  .register("StatusThenNull", function* (ctx) { ctx.setCustomStatus("s"); yield* ctx.scheduleActivity("Echo", 1); ctx.resetCustomStatus(); return 2; })
  .register("Can", function* (ctx, n: number) { if (n < 2) return yield* ctx.continueAsNew(n + 1); return n; })
  .register("Waits", function* (ctx) { return yield* ctx.scheduleWait("go"); })
  .register("Parent", function* (ctx) { return yield* ctx.scheduleSubOrchestration("Quick", { a: 1 }); })
  .build();

test.skipIf(pg.url === null)("waitForOrchestration answers what getOrchestrationStatus reads, whether or not the ending turn's snapshot could answer it", async () => {
  const schema = `test_${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`;
  schemas.push(schema);
  const p = await PostgresProvider.connect(pg.url!, { poolMax: 4, schema });
  const rt = await Runtime.start(p, activities, orchestrations, { logLevel: "off", dispatcherPollIntervalMs: 10 });
  try {
    const client = new Client(p);
    const cases: [string, string, unknown][] = [
      ["a", "Quick", { x: [1, "\u001e"] }], ["b", "QuickFail", null], ["c", "QuickStatus", null], ["d", "StatusThenNull", null], ["e", "Can", 0], ["f", "Parent", null],
    ];
    for (const [id, name, input] of cases) {
      const w = client.waitForOrchestration(id, { timeoutMs: 10_000 });
      await client.startOrchestration(id, name, input);
      const waited = await w;
      const read = await client.getOrchestrationStatus(id);
      expect(waited as unknown, id).toEqual(read);
    }
    await client.startOrchestration("g", "Waits");
    const w = client.waitForOrchestration("g", { timeoutMs: 10_000 });
    await client.cancelInstance("g", "stop");
    expect(await w as unknown).toEqual(await client.getOrchestrationStatus("g"));
  } finally {
    await rt.shutdown();
    await p.close();
  }
}, 60_000);
