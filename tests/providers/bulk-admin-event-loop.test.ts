// Bulk admin calls on the synchronous stores (SQLite, memory) work in chunks and yield to the event
// loop between them (docs/provider-contract.md §7.4): a delete or prune over 10,000 instances keeps
// timers and I/O running instead of blocking the process for its whole duration.
import { describe, expect, test } from "bun:test";
import { createCompletedInstances } from "../../src/provider-tests/helpers.ts";
import type { Provider, ProviderAdmin } from "../../src/provider.ts";
import { BULK_CHUNK } from "../../src/providers/bulk-chunks.ts";
import { MemoryProvider } from "../../src/providers/memory.ts";
import { SqliteProvider } from "../../src/providers/sqlite.ts";

const COUNT = 10_000;

/** Runs `call` while a setImmediate ticker counts event-loop turns and the longest gap between them. */
async function watchEventLoop<T>(call: () => Promise<T>): Promise<{ result: T; turns: number; maxGapMs: number }> {
  let turns = 0;
  let maxGapMs = 0;
  let last = performance.now();
  let running = true;
  const tick = () => {
    const now = performance.now();
    maxGapMs = Math.max(maxGapMs, now - last);
    last = now;
    turns++;
    if (running) setImmediate(tick);
  };
  setImmediate(tick);
  last = performance.now();
  try {
    const result = await call();
    // The gap up to the call's return counts too.
    maxGapMs = Math.max(maxGapMs, performance.now() - last);
    return { result, turns, maxGapMs };
  } finally {
    running = false;
  }
}

const stores: [string, () => Promise<Provider>][] = [
  ["sqlite", () => SqliteProvider.inMemory()],
  ["memory", () => MemoryProvider.create()],
];

for (const [name, open] of stores) {
  describe(`bulk admin calls over ${COUNT} instances [${name}]`, () => {
    test("deleteInstanceBulk and pruneExecutionsBulk with explicit ids process all of them and let the event loop turn between chunks", async () => {
      const p = await open();
      const admin = p.asManagementCapability() as ProviderAdmin;
      const ids = Array.from({ length: COUNT }, (_, i) => `loop-${i}`);
      await createCompletedInstances(p, ids);

      const pruned = await watchEventLoop(() => admin.pruneExecutionsBulk({ instance_ids: ids }, {}));
      expect(pruned.result.instances_processed).toBe(COUNT);
      const deleted = await watchEventLoop(() => admin.deleteInstanceBulk({ instance_ids: ids }));
      expect(deleted.result.instances_deleted).toBe(COUNT);
      expect(await admin.listInstances()).toEqual([]);

      for (const run of [pruned, deleted]) {
        // One turn at least between every two chunks; a single blocking transaction gives none.
        expect(run.turns).toBeGreaterThanOrEqual(COUNT / BULK_CHUNK - 1);
        // Generous: a chunk takes milliseconds; the whole call in one piece takes far longer.
        expect(run.maxGapMs).toBeLessThan(250);
      }
      await (p as { close?: () => Promise<void> | void }).close?.();
    });

    test("without ids, deleteInstanceBulk with a limit above the default deletes exactly that many, oldest first, in chunks", async () => {
      const p = await open();
      const admin = p.asManagementCapability() as ProviderAdmin;
      const ids = Array.from({ length: 1_200 }, (_, i) => `lim-${i}`);
      await createCompletedInstances(p, ids);
      const run = await watchEventLoop(() => admin.deleteInstanceBulk({ limit: 1_100 }));
      expect(run.result.instances_deleted).toBe(1_100);
      expect(run.turns).toBeGreaterThanOrEqual(Math.ceil(1_100 / BULK_CHUNK) - 1);
      expect((await admin.listInstances()).length).toBe(100);
      // Without a limit the default (1000) still applies to a filter without ids.
      expect((await admin.deleteInstanceBulk({})).instances_deleted).toBe(100);
      await (p as { close?: () => Promise<void> | void }).close?.();
    });
  });
}
