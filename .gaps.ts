// Worker-slot gaps on the seed workload (1/1, 20 in flight, fan-out 5 x 10 ms).
import { ActivityRegistry, Client, OrchestrationRegistry, Runtime } from "./src/index.ts";
import { MemoryProvider } from "./src/providers/memory.ts";
import { SqliteProvider } from "./src/providers/sqlite.ts";
const kind = process.argv[2] ?? "memory";
const p = kind === "memory" ? await MemoryProvider.create() : kind === "file" ? await SqliteProvider.open(`/tmp/exp/g-${Date.now()}.db`) : await SqliteProvider.inMemory();
const spans: [number, number, number][] = [];
const acts = ActivityRegistry.builder().register("T", async (_c: unknown, i: number) => { const s = performance.now(); await Bun.sleep(10); const woke = performance.now(); spans.push([s, woke, 0]); return i; }).build();
const orchs = OrchestrationRegistry.builder().register("Fan", function* (ctx: any) {
  const r = yield* ctx.all([0, 1, 2, 3, 4].map((i: number) => ctx.scheduleActivity("T", i)));
  return r.length;
}).build();
const rt = await Runtime.start(p, acts, orchs, { logLevel: "off", orchestrationConcurrency: 1, workerConcurrency: 1 });
const c = new Client(p);
let n = 0; const t0 = performance.now(); const end = t0 + 6000;
async function one() { while (performance.now() < end) { const id = `o${n++}`; await c.startOrchestration(id, "Fan", null); await c.waitForOrchestration(id, { timeoutMs: 60000 }); } }
await Promise.all(Array.from({ length: 20 }, one));
const total = performance.now() - t0;
spans.sort((a, b) => a[0] - b[0]);
const busy = spans.reduce((s, x) => s + (x[1] - x[0]), 0);
const gaps = spans.slice(1).map((x, i) => x[0] - spans[i]![1]).sort((a, b) => a - b);
const sl = spans.map((x) => x[1] - x[0]).sort((a, b) => a - b);
const q = (a: number[], f: number) => a[Math.floor(a.length * f)]!.toFixed(3);
console.log(`${kind}: activities ${spans.length} in ${total.toFixed(0)} ms; sleep p50 ${q(sl, 0.5)} p90 ${q(sl, 0.9)} mean ${(busy / spans.length).toFixed(3)}; gap p50 ${q(gaps, 0.5)} p90 ${q(gaps, 0.9)} p99 ${q(gaps, 0.99)} mean ${(gaps.reduce((a, b) => a + b, 0) / gaps.length).toFixed(3)}; busy ${(100 * busy / total).toFixed(1)}%`);
await rt.shutdown(1000);
const m = (globalThis as any).__m as [string, number][];
// attribute: from each activity's wake (span end) to the next event of each type
const wakes = spans.map((x) => x[1]);
const stat: Record<string, number[]> = {};
let wi = 0;
for (const [k, t] of m) {
  while (wi + 1 < wakes.length && wakes[wi + 1]! <= t) wi++;
  if (wakes[wi]! > t) continue;
  (stat[k] ??= []).push(t - wakes[wi]!);
}
for (const [k, a] of Object.entries(stat)) { a.sort((x, y) => x - y); console.log(k, "p50 since wake", a[Math.floor(a.length / 2)]!.toFixed(3)); }
