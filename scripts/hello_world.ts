// The README's hello world: one orchestration calling one activity, on an in-memory SQLite store.
//   bun run scripts/hello_world.ts
import { Runtime, Client, ActivityRegistry, OrchestrationRegistry } from "duroxide";
import { SqliteProvider } from "duroxide/sqlite";

const provider = await SqliteProvider.inMemory();
const activities = ActivityRegistry.builder()
  .register("Hello", async (_ctx, name: string) => `Hello, ${name}!`)
  .build();
const orchestrations = OrchestrationRegistry.builder()
  .register("HelloWorld", function* (ctx, name: string) {
    ctx.traceInfo("hello started");
    return yield* ctx.scheduleActivity<string>("Hello", name);
  })
  .build();
const rt = await Runtime.start(provider, activities, orchestrations, {
  orchestrationConcurrency: 2,
  workerConcurrency: 2,
});
const client = new Client(provider);
await client.startOrchestration("inst-1", "HelloWorld", "Bun");
const status = await client.waitForOrchestration("inst-1", { timeoutMs: 5_000 });
console.log(status.status, status.status === "Completed" ? status.output : status.message);
await rt.shutdown();
provider.close();
