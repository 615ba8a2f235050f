// PostgresProvider.connect: migrations under concurrency, an upgrade from an older version, a
// schema newer than the code, option checks (docs/provider-contract.md §16.1, §16.2).
import { afterAll, expect, test } from "bun:test";
import { SQL } from "bun";
import { ProviderError } from "../../src/core/errors.ts";
import { TagFilter } from "../../src/core/queue-types.ts";
import { activityCompletedItem, activityItem, runningMeta, startedEvent, startItem } from "../../src/provider-tests/helpers.ts";
import { PostgresProvider } from "../../src/providers/postgres.ts";
import { channelOf, quoted } from "../../src/providers/postgres/options.ts";
import { FUNCTIONS, MIGRATIONS, SCHEMA_VERSION } from "../../src/providers/postgres/schema.ts";
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
    ["workerClaimAhead -1", url, { schema: ok, workerClaimAhead: -1 }, "workerClaimAhead"],
    ["workerClaimAhead as a string", url, { schema: ok, workerClaimAhead: "8" }, "workerClaimAhead"],
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

pgTest("a schema at version 1 (tables, and the functions of the release that made it) is brought to the latest version: old functions dropped, the provider works", async (url) => {
  const schema = fresh();
  const q = quoted(schema);
  const render = (text: string) => text.replaceAll("__S__", q).replaceAll("__CH__", channelOf(schema));
  const functions = async (sql: SQL, s: string): Promise<string[]> =>
    (await sql.unsafe(`SELECT p.oid::regprocedure::text AS f FROM pg_proc AS p WHERE p.pronamespace = to_regnamespace($1) ORDER BY 1`, [s])).map(
      (r: { f: string }) => r.f.slice(s.length + 1),
    );
  const settingsOf = async (sql: SQL, fn: string): Promise<string[] | null> =>
    (await sql.unsafe(`SELECT proconfig FROM pg_proc WHERE oid = to_regprocedure($1)`, [`${q}.${fn}`]))[0]?.proconfig ?? null;
  const fetchOrch = "fetch_orch(bigint,boolean,bigint[],bigint[])";

  // What an older release's migrate() left: schema_migrations at version 1, the tables, and the
  // functions of that release: today's hot-path functions without their SET clauses (that release
  // set planner settings through claim_settings()), no ack_work_many, and the two that are gone.
  await withSql(url, async (sql) => {
    await sql.unsafe(`CREATE SCHEMA ${q}`);
    await sql.unsafe(
      `CREATE TABLE ${q}.schema_migrations (version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`,
    );
    expect(MIGRATIONS[0]!.version).toBe(1);
    await sql.unsafe(`BEGIN;\n${render(MIGRATIONS[0]!.sql)};\nINSERT INTO ${q}.schema_migrations (version, description) VALUES (1, 'tables, indexes and the hot-path functions');\nCOMMIT;`).simple();
    await sql.unsafe(render(FUNCTIONS)).simple();
    for (const fn of await functions(sql, schema)) await sql.unsafe(`ALTER FUNCTION ${q}.${fn} RESET ALL`);
    await sql.unsafe(`DROP FUNCTION ${q}.ack_work_many(text[], text[], text[], text[])`);
    await sql.unsafe(`CREATE FUNCTION ${q}.claim_settings() RETURNS void LANGUAGE plpgsql AS $$ BEGIN PERFORM set_config('jit', 'off', true); END $$`);
    await sql.unsafe(`CREATE FUNCTION ${q}.ack_work(p_token TEXT, p_instance TEXT, p_kind TEXT, p_item TEXT) RETURNS void LANGUAGE plpgsql AS $$ BEGIN END $$`);
    const before = await functions(sql, schema);
    expect(before).toContain("claim_settings()");
    expect(before).toContain("ack_work(text,text,text,text)");
    expect(before).not.toContain("ack_work_many(text[],text[],text[],text[])");
    expect(await settingsOf(sql, fetchOrch)).toBeNull();
  });

  const p = await PostgresProvider.connect(url, { schema, poolMax: 2 });
  opened.push(p);

  // Every later migration applied once; the schema now has exactly the functions of a fresh one,
  // in their current form.
  const reference = fresh();
  opened.push(await PostgresProvider.connect(url, { schema: reference, poolMax: 1 }));
  await withSql(url, async (sql) => {
    const versions = await sql.unsafe(`SELECT version FROM ${q}.schema_migrations ORDER BY version`);
    expect(versions.map((r: { version: number }) => Number(r.version))).toEqual(MIGRATIONS.map((m) => m.version));
    expect(Number(versions[versions.length - 1].version)).toBe(SCHEMA_VERSION);
    const upgraded = await functions(sql, schema);
    expect(upgraded).not.toContain("claim_settings()");
    expect(upgraded).not.toContain("ack_work(text,text,text,text)");
    expect(upgraded).toContain("ack_work_many(text[],text[],text[],text[])");
    expect(upgraded).toEqual(await functions(sql, reference));
    // The hot-path fetch carries the planner settings, and its skip list replaced the five-argument
    // version (reached through the list's default); the version-2 fetch is a wrapper around it.
    expect(await settingsOf(sql, "fetch_orch_tail(bigint,boolean,bigint[],bigint[],integer,text[])")).toContain("jit=off");
    expect(upgraded).not.toContain("fetch_orch_tail(bigint,boolean,bigint[],bigint[],integer)");
    expect(upgraded).toContain(fetchOrch);
    // And the same indexes.
    const indexes = async (s: string) =>
      (await sql.unsafe(`SELECT indexname FROM pg_indexes WHERE schemaname = $1 ORDER BY 1`, [s])).map((r: { indexname: string }) => r.indexname);
    expect(await indexes(schema)).toEqual(await indexes(reference));
  });

  // And it works: enqueue, fetch, ack a turn (with an activity), then ack that activity.
  await p.enqueueForOrchestrator(startItem("upgraded"), null);
  const f = await p.fetchOrchestrationItem(5_000, 0);
  expect(f?.item.instance).toBe("upgraded");
  await p.ackOrchestrationItem(f!.lockToken, 1, [startedEvent("upgraded")], [activityItem("upgraded", 2)], [], runningMeta(), []);
  expect((await p.read("upgraded")).map((e) => e.type)).toEqual(["OrchestrationStarted"]);
  const w = await p.fetchWorkItem(5_000, 0, null, TagFilter.defaultOnly());
  expect(w?.item.type === "ActivityExecute" && w.item.id).toBe(2);
  await p.ackWorkItem(w!.lockToken, activityCompletedItem("upgraded", 2));
  const next = await p.fetchOrchestrationItem(5_000, 0);
  expect(next?.item.messages.map((m) => m.type)).toEqual(["ActivityCompleted"]);

  // A second connect, without migrating, finds it current.
  const again = await PostgresProvider.connect(url, { schema, poolMax: 1, migrate: false });
  await again.close();
  await p.close();
  await PostgresProvider.dropSchema(url, schema);
  schemas.delete(schema);
  const left = await withSql(url, (sql) => sql.unsafe(`SELECT to_regnamespace($1) IS NOT NULL AS present`, [schema]));
  expect(left[0].present).toBe(false);
});
