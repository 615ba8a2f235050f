/**
 * The PostgreSQL server for this test process: `DUROXIDE_PG_URL`, or a throw-away server started
 * on first use and shared by every test file. Without either, PostgreSQL tests are skipped with
 * the reason, except under CI, where a missing server is a failure.
 */
import { pgTestUrl } from "../../src/testing/throwaway-postgres.ts";

export interface PgAvailability {
  url: string | null;
  /** Why there is no server (null when there is one). */
  reason: string | null;
  restart: (() => Promise<void>) | null;
}

export async function postgresForTests(): Promise<PgAvailability> {
  const r = await pgTestUrl();
  if ("reason" in r) {
    if (process.env.CI) throw new Error(`CI is set and no PostgreSQL server is available: ${r.reason}`);
    return { url: null, reason: r.reason, restart: null };
  }
  return { url: r.url, reason: null, restart: r.server ? () => r.server!.restart() : null };
}
