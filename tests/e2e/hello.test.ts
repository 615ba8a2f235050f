// docs/runtime-semantics.md §8.1: hello world — one activity; output returned; history Started,
// Scheduled, Completed, Completed.
import { expect, test } from "bun:test";
import { describeEachProvider, historyTypes } from "./harness.ts";

describeEachProvider("hello world", (e2e) => {
  test("one activity: the output is returned and history is Started, ActivityScheduled, ActivityCompleted, OrchestrationCompleted", async () => {
    const env = await e2e.start({
      activities: { Hello: async (_ctx, name: string) => `Hello, ${name}!` },
      orchestrations: {
        HelloWorld: function* (ctx, name: string) {
          return yield* ctx.scheduleActivity("Hello", name);
        },
      },
    });
    await env.client.startOrchestration("hello-1", "HelloWorld", "Bun");
    const status = await env.client.waitForOrchestration("hello-1", { timeoutMs: 5_000 });
    expect(status).toMatchObject({ status: "Completed", output: "Hello, Bun!" });
    expect(await historyTypes(env.client, "hello-1")).toEqual(["OrchestrationStarted", "ActivityScheduled", "ActivityCompleted", "OrchestrationCompleted"]);
  });
});
