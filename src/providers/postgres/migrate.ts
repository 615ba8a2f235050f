/**
 * Applies the schema's migrations (docs/provider-contract.md §16.2): under a session advisory lock
 * keyed by the schema's name, so that many processes connecting at once to an empty database
 * apply each migration exactly once and the others wait, then find it done. Each migration and
 * its row in `schema_migrations` commit together. A schema newer than this code is refused.
 */
import type { SQL } from "bun";
import { ProviderError } from "../../core/errors.ts";
import { postgresError } from "./errors.ts";
import { channelOf, quoted } from "./options.ts";
import { MIGRATIONS, SCHEMA_VERSION } from "./schema.ts";

const OP = "PostgresProvider.connect";

function render(sql: string, schema: string): string {
  return sql.replaceAll("__S__", quoted(schema)).replaceAll("__CH__", channelOf(schema));
}

/** The schema's applied version (0 when it has none yet), read without taking the lock. */
async function currentVersion(conn: SQL, schema: string): Promise<number> {
  const rows = await conn.unsafe(
    `SELECT to_regclass($1) IS NOT NULL AS present`,
    [`${quoted(schema)}.schema_migrations`],
  );
  if (!rows[0]?.present) return 0;
  const v = await conn.unsafe(`SELECT coalesce(max(version), 0)::int AS v FROM ${quoted(schema)}.schema_migrations`);
  return Number(v[0]?.v ?? 0);
}

function tooNew(schema: string, version: number): ProviderError {
  return new ProviderError(
    "InvalidArgument",
    OP,
    `schema "${schema}" is at version ${version}, newer than this duroxide's ${SCHEMA_VERSION}: it was migrated by a newer release. ` +
      `Upgrade duroxide in this process, or point it at another schema (options.schema).`,
  );
}

export async function migrate(sql: SQL, schema: string, apply: boolean): Promise<void> {
  let conn: Awaited<ReturnType<SQL["reserve"]>>;
  try {
    conn = await sql.reserve();
  } catch (err) {
    throw postgresError(OP, err);
  }
  try {
    // Fast path: a current schema needs no lock (every process but the first, on every start).
    const seen = await currentVersion(conn, schema);
    if (seen > SCHEMA_VERSION) throw tooNew(schema, seen);
    if (seen === SCHEMA_VERSION) return;
    if (!apply) {
      throw new ProviderError(
        "InvalidArgument",
        OP,
        `schema "${schema}" is at version ${seen}, this duroxide needs ${SCHEMA_VERSION}, and options.migrate is false: run connect once with migrate: true`,
      );
    }
    await conn.unsafe("SELECT pg_advisory_lock(hashtextextended($1, 0))", [`duroxide-migrate:${schema}`]);
    try {
      await conn.unsafe(`CREATE SCHEMA IF NOT EXISTS ${quoted(schema)}`);
      await conn.unsafe(
        `CREATE TABLE IF NOT EXISTS ${quoted(schema)}.schema_migrations (
           version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`,
      );
      const at = await currentVersion(conn, schema); // another process may have migrated while we waited
      if (at > SCHEMA_VERSION) throw tooNew(schema, at);
      for (const m of MIGRATIONS) {
        if (m.version <= at) continue;
        const record = `INSERT INTO ${quoted(schema)}.schema_migrations (version, description) VALUES (${m.version}, '${m.description.replaceAll("'", "''")}')`;
        // One simple-protocol string: BEGIN ... COMMIT runs as one transaction, all or nothing.
        await conn.unsafe(`BEGIN;\n${render(m.sql, schema)};\n${record};\nCOMMIT;`).simple();
      }
    } catch (err) {
      await conn.unsafe("ROLLBACK").catch(() => {});
      throw err;
    } finally {
      await conn.unsafe("SELECT pg_advisory_unlock(hashtextextended($1, 0))", [`duroxide-migrate:${schema}`]).catch(() => {});
    }
  } catch (err) {
    throw postgresError(OP, err);
  } finally {
    conn.release();
  }
}
