/**
 * ProviderFactory instances for the SQLite provider, in memory and on files, shared by this repo's
 * suite runs. The hooks act on the provider the current case created last (cases that use them
 * create exactly one).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ProviderFactory } from "../../src/provider-tests/index.ts";
import { SqliteProvider, type SqliteProviderOptions } from "../../src/providers/sqlite.ts";

function withHooks(create: () => Promise<SqliteProvider>): ProviderFactory {
  let last: SqliteProvider | null = null;
  const current = () => {
    if (last === null) throw new Error("no provider created yet");
    return last;
  };
  return {
    async createProvider() {
      last = await create();
      return last;
    },
    lockTimeoutMs: () => 1000,
    async corruptInstanceHistory(instanceId) {
      current().db.run("UPDATE history SET event_data = 'NOT_VALID_JSON{{{' WHERE instance_id = ?", [instanceId]);
      current().invalidateCache(instanceId); // direct SQL bypasses the provider's cache of decoded history
    },
    async getMaxAttemptCount(instanceId) {
      const row = current()
        .db.query<{ m: number | null }, [string]>("SELECT MAX(attempt_count) AS m FROM orchestrator_queue WHERE instance_id = ?")
        .get(instanceId);
      return row?.m ?? 0;
    },
  };
}

type PollingOptions = Pick<SqliteProviderOptions, "longPolling" | "pollIntervalMs">;

export function sqliteMemoryFactory(options: PollingOptions = {}): ProviderFactory {
  return withHooks(() => SqliteProvider.inMemory(options));
}

/** A fresh database file per provider inside a temp dir; call `cleanup()` after the run. */
export function sqliteFileFactory(options: SqliteProviderOptions = {}): ProviderFactory & { cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), "duroxide-suite-"));
  let n = 0;
  const factory = withHooks(() => SqliteProvider.open(join(dir, `case-${++n}.db`), options));
  return { ...factory, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
