// What the fused-start test files share (docs/provider-contract.md §16.4, "A start committed with
// its first turn"): providers with a settable hold, and looks at the queue and at fetches.
import { ProviderError } from "../../src/core/errors.ts";
import type { PostgresProvider } from "../../src/providers/postgres.ts";
import type { PgAvailability } from "../providers/postgres-server.ts";
import type { FetchedOrchestration } from "../../src/core/queue-types.ts";
import type { WorkItem } from "../../src/core/work-items.ts";
import { startItem } from "../../src/provider-tests/helpers.ts";
import { postgresTestKit, within } from "./helpers.ts";

export function fusedStartKit(pg: PgAvailability) {
  const kit = postgresTestKit(pg, { fallbackPollIntervalMs: 60_000, poolMax: 3 });
  return {
    pgTest: kit.pgTest,
    /**
     * A provider whose held starts wait up to `holdMs` for their turn (FUSED_START_HOLD_MS, 100 ms,
     * in production): long by default, so that a test's own steps between hand-over and ack never
     * run into the hold; the test of the hold itself sets it.
     */
    async connect(schema?: string, holdMs = 60_000): Promise<PostgresProvider> {
      const p = await kit.connect(schema);
      (p as unknown as { fusedStarts: { holdMs: number } }).fusedStarts.holdMs = holdMs;
      return p;
    },
  };
}

/** Resolves once `n` fetches of the queue are parked (checked every event-loop turn, bounded). */
export async function parked(p: PostgresProvider, n = 1, queue: "parkedOrch" | "parkedWork" = "parkedOrch"): Promise<void> {
  const deadline = performance.now() + 10_000;
  while ((p as unknown as Record<string, { size: number }>)[queue]!.size < n) {
    if (performance.now() > deadline) throw new Error(`${n} ${queue} fetch(es) never parked`);
    await new Promise((r) => setImmediate(r));
  }
}

export const parkedOrch = (p: PostgresProvider, n = 1) => parked(p, n);

/** The kinds of the instance's queued orchestrator messages, oldest first. */
export async function queued(p: PostgresProvider, instance: string): Promise<string[]> {
  const sql = (p as unknown as { sql: { unsafe(t: string, a: unknown[]): Promise<{ kind: string }[]> } }).sql;
  return (await sql.unsafe(`SELECT kind FROM "${p.schema}".orchestrator_queue WHERE instance_id = $1 ORDER BY id`, [instance])).map((r) => r.kind);
}

/** "ok", or the ProviderError kind the call failed with. */
export const outcome = (x: Promise<unknown>) => x.then(() => "ok", (e) => (e instanceof ProviderError ? e.kind : String(e)));

/**
 * Parks a fetch (lock timeout `lockMs`), enqueues a start of `instance` for it to be handed, and
 * returns the batch the fetch got and the enqueue's answer, still pending while the start is held.
 */
export async function handedStart(p: PostgresProvider, instance: string, lockMs = 30_000, item: WorkItem = startItem(instance)): Promise<{ f: FetchedOrchestration; started: Promise<void> }> {
  const fetched = p.fetchOrchestrationItem(lockMs, 20_000);
  await parkedOrch(p);
  const started = p.enqueueForOrchestrator(item, null);
  const f = await within("the parked fetch", fetched, 5_000);
  if (f === null) throw new Error(`the parked fetch got nothing for ${instance}`);
  return { f, started };
}

/** Blocks the event loop for `ms`, as a turn's synchronous code does: no timer runs meanwhile. */
export function busy(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // synchronous work
  }
}

/** Makes the first statement matching `matches` commit and then fail as a lost reply would (Unavailable). */
export function loseReplyAfterCommit(p: PostgresProvider, matches: (text: string) => boolean): void {
  const target = p as unknown as { call: (op: string, text: string, params: unknown[]) => Promise<unknown[]> };
  const call = target.call.bind(p);
  let cut = true;
  target.call = async (op, text, params) => {
    const rows = await call(op, text, params);
    if (cut && matches(text)) {
      cut = false;
      throw ProviderError.unavailable(op, "connection reset (reply lost after commit)");
    }
    return rows;
  };
}
