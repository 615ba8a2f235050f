/**
 * ProviderFactory instances for the SQLite provider, in memory and on files, shared by this repo's
 * suite runs. The corruption hooks come from `sqliteSuiteFactory`, as in a provider repo.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ProviderFactory } from "../../src/provider-tests/index.ts";
import { SqliteProvider, sqliteSuiteFactory, type SqliteProviderOptions } from "../../src/providers/sqlite.ts";

type PollingOptions = Pick<SqliteProviderOptions, "longPolling" | "pollIntervalMs">;

export function sqliteMemoryFactory(options: PollingOptions = {}): ProviderFactory {
  return sqliteSuiteFactory(() => SqliteProvider.inMemory(options));
}

/** A fresh database file per provider inside a temp dir; call `cleanup()` after the run. */
export function sqliteFileFactory(options: SqliteProviderOptions = {}): ProviderFactory & { cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), "duroxide-suite-"));
  let n = 0;
  const factory = sqliteSuiteFactory(() => SqliteProvider.open(join(dir, `case-${++n}.db`), options));
  return { ...factory, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
