// PostgresProvider.connect: migrations under concurrency, a schema newer than the code, option
// checks (docs/provider-contract.md §16.1, §16.2).
import { afterAll, expect, test } from "bun:test";
import { SQL } from "bun";
import { ProviderError } from "../../src/core/errors.ts";
import { startItem } from "../../src/provider-tests/helpers.ts";
import { PostgresProvider } from "../../src/providers/postgres.ts";
import { MIGRATIONS, SCHEMA_VERSION } from "../../src/providers/postgres/schema.ts";
import { postgresForTests } from "../providers/postgres-server.ts";
import { freshSchema } from "./helpers.ts";

const pg = await postgresForTests();
const schemas = new Set<string>();
const opened: PostgresProvider[] = [];

function pgTest(name: string, fn: (url: string) => Promise<void>, timeoutMs = 60_000): void {
  if (pg.url === null) test.skip(`${name} [skipped: ${pg.reason}]`, () => {});
  else test(name, () => fn(pg.url!), timeoutMs);
}

function fresh(): string {
  const s = freshSchema();
  schemas.add(s);
  return s;
}

afterAll(async () => {
  if (pg.url === null) return;
  await Promise.all(opened.map((p) => p.close()));
  for (const s of schemas) await PostgresProvider.dropSchema(pg.url, s);
});

/** The rejection of `p`, required to be a ProviderError of `kind`. */
async function refusal(p: Promise<unknown>, kind = "InvalidArgument"): Promise<ProviderError> {
  let caught: unknown = null;
  try {
    const provider = await p;
    if (provider instanceof PostgresProvider) opened.push(provider);
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(ProviderError);
  const e = caught as ProviderError;
  expect(`${e.kind}: ${e.message}`).toStartWith(`${kind}: `);
  return e;
}

async function withSql<T>(url: string, fn: (sql: SQL) => Promise<T>): Promise<T> {
  const sql = new SQL(url, { max: 1 });
  try {
    return await fn(sql);
  } finally {
    await sql.close({ timeout: 1 });
  }
}

pgTest("ten concurrent connects on a fresh schema all succeed and apply each migration exactly once", async (url) => {
  const schema = fresh();
  const providers = await Promise.all(Array.from({ length: 10 }, () => PostgresProvider.connect(url, { schema, poolMax: 2 })));
  opened.push(...providers);
  expect(providers.length).toBe(10);
  const rows = await withSql(url, (sql) =>
    sql.unsafe(`SELECT version, count(*)::int AS n FROM "${schema}".schema_migrations GROUP BY version ORDER BY version`),
  );
  expect(rows.map((r: { version: number; n: number }) => [Number(r.version), r.n])).toEqual(MIGRATIONS.map((m) => [m.version, 1]));
  expect(Math.max(...rows.map((r: { version: number }) => Number(r.version)))).toBe(SCHEMA_VERSION);
  // They all work on the one schema: what one enqueues another fetches.
  await providers[0]!.enqueueForOrchestrator(startItem("migrated"), null);
  const f = await providers[9]!.fetchOrchestrationItem(5_000, 0);
  expect(f?.item.instance).toBe("migrated");
});

pgTest("a schema migrated by a newer release is refused: InvalidArgument naming the schema and both versions", async (url) => {
  const schema = fresh();
  opened.push(await PostgresProvider.connect(url, { schema, poolMax: 1 }));
  await withSql(url, (sql) => sql.unsafe(`UPDATE "${schema}".schema_migrations SET version = 999 WHERE version = ${SCHEMA_VERSION}`));
  for (const migrate of [true, false]) {
    const e = await refusal(PostgresProvider.connect(url, { schema, migrate }));
    expect(e.message).toContain(`"${schema}"`);
    expect(e.message).toMatch(/\b999\b/);
    expect(e.message).toMatch(new RegExp(`\\b${SCHEMA_VERSION}\\b`));
  }
  // Nothing was changed by the refused connects.
  const versions = await withSql(url, (sql) => sql.unsafe(`SELECT version FROM "${schema}".schema_migrations ORDER BY version`));
  expect(versions.map((r: { version: number }) => Number(r.version))).toEqual([...MIGRATIONS.slice(0, -1).map((m) => m.version), 999]);
});

pgTest("migrate: false refuses a fresh schema (and creates nothing), and accepts a current one", async (url) => {
  const schema = fresh();
  const e = await refusal(PostgresProvider.connect(url, { schema, migrate: false }));
  expect(e.message).toContain(`"${schema}"`);
  expect(e.message).toContain("migrate");
  const present = await withSql(url, (sql) => sql.unsafe(`SELECT to_regnamespace($1) IS NOT NULL AS present`, [schema]));
  expect(present[0].present).toBe(false);
  // Once migrated, migrate: false connects.
  opened.push(await PostgresProvider.connect(url, { schema, poolMax: 1 }));
  opened.push(await PostgresProvider.connect(url, { schema, poolMax: 1, migrate: false }));
});

pgTest("connect rejects bad options and URLs with InvalidArgument naming the option", async (url) => {
  const ok = fresh(); // a valid name: each case below is refused for another reason
  const cases: [string, string, Record<string, unknown>, string][] = [
    ["schema with capitals and a dash", url, { schema: "Bad-Name" }, "schema"],
    ["schema of 49 characters", url, { schema: `s${"a".repeat(48)}` }, "schema"],
    ["schema pg_*", url, { schema: "pg_mine" }, "schema"],
    ["poolMax 0", url, { schema: ok, poolMax: 0 }, "poolMax"],
    ["poolMax 1.5", url, { schema: ok, poolMax: 1.5 }, "poolMax"],
    ["fallbackPollIntervalMs -1", url, { schema: ok, fallbackPollIntervalMs: -1 }, "fallbackPollIntervalMs"],
    ["listen not a boolean", url, { schema: ok, listen: "yes" }, "listen"],
    ["unknown option key", url, { schema: ok, bogusOption: 1 }, "bogusOption"],
    ["a mysql:// url", "mysql://x", {}, "url"],
    ["an empty url", "", {}, "url"],
    ["not a url", "localhost:5432", {}, "url"],
  ];
  for (const [what, u, options, name] of cases) {
    const e = await refusal(PostgresProvider.connect(u, options as never));
    expect(`${what}: ${e.message}`).toContain(name);
  }
  // The 48-character limit is the boundary: 48 is accepted by the check (49 was refused above).
  const base = fresh();
  const longest = `${base}_${"x".repeat(48 - base.length - 1)}`;
  expect(longest.length).toBe(48);
  schemas.add(longest);
  opened.push(await PostgresProvider.connect(url, { schema: longest, poolMax: 1 }));
  // None of the refused connects created a schema.
  const created = await withSql(url, (sql) =>
    sql.unsafe(`SELECT nspname FROM pg_namespace WHERE nspname IN ($1, 'Bad-Name', 'bad-name', 'pg_mine')`, [ok]),
  );
  expect(created.length).toBe(0);
});
