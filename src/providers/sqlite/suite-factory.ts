/**
 * The correctness suite's corruption hooks for a SQLite store. They need the provider's tables, so
 * they are built here from the connection and history cache the entry's internal accessor hands over.
 */
import type { Database } from "bun:sqlite";
import type { Provider } from "../../provider.ts";
import type { ProviderFactory } from "../../provider-tests/harness.ts";
import type { HistoryCache } from "./history-cache.ts";

/** A ProviderFactory for providers of type P, with both of the suite's corruption hooks. */
export interface SuiteFactory<P extends Provider> extends ProviderFactory {
  createProvider(): Promise<P>;
  corruptInstanceHistory(instanceId: string): Promise<void>;
  getMaxAttemptCount(instanceId: string): Promise<number>;
}

/** What the hooks reach of a provider. */
export interface StoreAccess {
  db: Database;
  history: Pick<HistoryCache, "forget">;
}

/** The hooks act on the provider `create` made last (cases that use them create exactly one). */
export function suiteFactory<P extends Provider>(create: () => Promise<P>, storeOf: (p: P) => StoreAccess): SuiteFactory<P> {
  let last: P | null = null;
  const current = () => {
    if (last === null) throw new Error("no provider created yet");
    return storeOf(last);
  };
  return {
    async createProvider() {
      last = await create();
      return last;
    },
    async corruptInstanceHistory(instanceId) {
      const { db, history } = current();
      db.run("UPDATE history SET event_data = 'NOT_VALID_JSON{{{' WHERE instance_id = ?", [instanceId]);
      history.forget(instanceId); // direct SQL bypasses the provider's cache of decoded history
    },
    async getMaxAttemptCount(instanceId) {
      const row = current()
        .db.query<{ m: number | null }, [string]>("SELECT MAX(attempt_count) AS m FROM orchestrator_queue WHERE instance_id = ?")
        .get(instanceId);
      return row?.m ?? 0;
    },
  };
}
