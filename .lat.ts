// One instance in flight, fan-out 5 x 10 ms, 2/2: where does the time beyond 3 x 10 ms go?
import { ActivityRegistry, Client, OrchestrationRegistry, Runtime } from "./src/index.ts";
import { MemoryProvider } from "./src/providers/memory.ts";
import { SqliteProvider } from "./src/providers/sqlite.ts";
const kind = process.argv[2] ?? "memory";
const p = kind === "memory" ? await MemoryProvider.create() : kind === "file" ? await SqliteProvider.open(`/tmp/exp/l-${Date.now()}.db`) : await SqliteProvider.inMemory();
let starts: number[] = [], ends: number[] = [];
const acts = ActivityRegistry.builder().register("T", async (_c: unknown, i: number) => { starts.push(performance.now()); await Bun.sleep(10); ends.push(performance.now()); return i; }).build();
let turnStart = 0, turnEnd = 0;
const orchs = OrchestrationRegistry.builder().register("Fan", function* (ctx: any) {
  const r = yield* ctx.all([0, 1, 2, 3, 4].map((i: number) => ctx.scheduleActivity("T", i)));
  return r.length;
}).build();
const rt = await Runtime.start(p, acts, orchs, { logLevel: "off", orchestrationConcurrency: 2, workerConcurrency: 2 });
const c = new Client(p);
const rows: number[][] = [];
for (let n = 0; n < 150; n++) {
  starts = []; ends = [];
  const t0 = performance.now();
  await c.startOrchestration(`o${n}`, "Fan", null);
  await c.waitForOrchestration(`o${n}`, { timeoutMs: 60000 });
  const t1 = performance.now();
  starts.sort((a, b) => a - b); ends.sort((a, b) => a - b);
  rows.push([t1 - t0, starts[0]! - t0, (ends.at(-1)! - starts[0]!), t1 - ends.at(-1)!]);
}
const med = (i: number) => { const a = rows.slice(10).map((r) => r[i]!).sort((x, y) => x - y); return a[Math.floor(a.length / 2)]!.toFixed(2); };
console.log(`${kind}: total p50 ${med(0)} ms = start->first activity ${med(1)} + activities span ${med(2)} + last end->observed ${med(3)}`);
await rt.shutdown(1000);
