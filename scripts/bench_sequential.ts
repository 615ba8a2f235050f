#!/usr/bin/env bun
/**
 * Sequential-activities benchmark: one orchestration awaiting N 0 ms activities one after another,
 * on an in-memory SQLite store, end to end (fetch, turn, ack). Without the instance cache each turn
 * replays the whole history, so the time grows quadratically with N; with it each turn only
 * applies the new completion (docs/runtime-semantics.md §2.12).
 *
 *   bun run scripts/bench_sequential.ts [--cache-size K] [--memory] [N ...]   (default N = 500 2000 5000)
 *
 * --memory runs on MemoryProvider instead, to separate the runtime's cost from SQLite's.
 *
 * Prints the wall time per N and the ratio of each time to the first one.
 */
import { ActivityRegistry, Client, OrchestrationRegistry, Runtime } from "../src/index.ts";
import { MemoryProvider } from "../src/providers/memory.ts";
import { SqliteProvider } from "../src/providers/sqlite.ts";

const args = process.argv.slice(2);
let cacheSize: number | undefined;
const ci = args.indexOf("--cache-size");
if (ci >= 0) {
  cacheSize = Number(args[ci + 1]);
  args.splice(ci, 2);
}
const memory = args.includes("--memory");
if (memory) args.splice(args.indexOf("--memory"), 1);
const sizes = args.length > 0 ? args.map(Number) : [500, 2000, 5000];

async function runOnce(n: number): Promise<number> {
  const provider = memory ? await MemoryProvider.create() : await SqliteProvider.inMemory();
  const activities = ActivityRegistry.builder().register("Zero", async (_ctx, i: number) => i).build();
  const orchestrations = OrchestrationRegistry.builder()
    .register("Sequential", function* (ctx, count: number) {
      let sum = 0;
      for (let i = 0; i < count; i++) sum += (yield* ctx.scheduleActivity<number>("Zero", i)) as number;
      return sum;
    })
    .build();
  const rt = await Runtime.start(provider, activities, orchestrations, {
    maxHistoryEvents: 1_000_000,
    ...(cacheSize === undefined ? {} : { instanceCacheSize: cacheSize }),
  });
  const client = new Client(provider);
  const t0 = performance.now();
  await client.startOrchestration("seq", "Sequential", n);
  const st = await client.waitForOrchestration("seq", { timeoutMs: 600_000 });
  const ms = performance.now() - t0;
  if (st.status !== "Completed") throw new Error(`N=${n}: ${st.status}`);
  const stats = (rt as unknown as { instanceCacheStats?: () => unknown }).instanceCacheStats?.();
  await rt.shutdown();
  await (provider as { close(): unknown }).close();
  if (stats !== undefined) console.log(`  cache stats N=${n}: ${JSON.stringify(stats)}`);
  return ms;
}

const times: number[] = [];
for (const n of sizes) {
  const ms = await runOnce(n);
  times.push(ms);
  console.log(`N=${n}: ${ms.toFixed(0)} ms (${(ms / n).toFixed(3)} ms/activity), ratio to N=${sizes[0]}: ${(ms / times[0]!).toFixed(2)}x`);
}
