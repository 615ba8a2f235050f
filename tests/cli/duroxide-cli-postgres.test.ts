// One smoke test of the duroxide CLI on PostgreSQL (a store URL with ?schema=): the store is
// recorded by a runtime in this process, read and signalled by the CLI in a child process.
import { afterAll, expect, test } from "bun:test";
import { Client } from "../../src/client.ts";
import { PostgresProvider } from "../../src/providers/postgres.ts";
import { Runtime } from "../../src/runtime/runtime.ts";
import { postgresForTests } from "../providers/postgres-server.ts";
import { freshSchema } from "../postgres/helpers.ts";
import { duroxide } from "./cli-harness.ts";
import { activities, orchestrations } from "./fixtures/orchestrations.ts";

const pg = await postgresForTests();
const schema = freshSchema();

afterAll(async () => {
  if (pg.url !== null) await PostgresProvider.dropSchema(pg.url, schema);
});

const name = "duroxide list, show and raise work on a postgres:// store URL with ?schema=";
if (pg.url === null) test.skip(`${name} [skipped: ${pg.reason}]`, () => {});
else
  test(name, async () => {
    const provider = await PostgresProvider.connect(pg.url!, { schema });
    const client = new Client(provider);
    const rt = await Runtime.start(provider, activities, orchestrations);
    try {
      await client.startOrchestration("pg-approval", "Approval", "Barbara");
      await client.waitForStatusChange("pg-approval", 0, { timeoutMs: 10_000 });
      const u = new URL(pg.url!);
      u.searchParams.set("schema", schema);
      const store = u.toString();
      const [list, show] = await Promise.all([duroxide(["list", "--json", "--store", store]), duroxide(["show", "pg-approval", "--store", store])]);
      expect(list.code).toBe(0);
      expect((JSON.parse(list.out) as { instance_id: string }[]).map((i) => i.instance_id)).toEqual(["pg-approval"]);
      expect(show.out).toMatch(/custom status\s+awaiting approval/);
      const raised = await duroxide(["raise", "pg-approval", "approve", "true"], { DUROXIDE_STORE: store });
      expect(raised.code).toBe(0);
      expect(await client.waitForOrchestration("pg-approval", { timeoutMs: 10_000 })).toMatchObject({ status: "Completed", output: { greeting: "Hello, Barbara!", decision: true } });
    } finally {
      await rt.shutdown();
      await provider.close();
    }
  });
