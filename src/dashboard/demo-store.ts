/**
 * A store with one instance of each kind the dashboard shows, driven by a live runtime: a
 * completed order (activities, a timer, a fan-out, custom status, KV), a failed payment (an
 * activity error), an approval waiting for an external event, and a parent with three children.
 * `scripts/dashboard.ts --demo` serves it, the browser tests check the pages against it, and
 * `scripts/dashboard_screenshots.ts` photographs it for the README.
 */
import { Client } from "../client.ts";
import type { Provider } from "../provider.ts";
import { ActivityRegistry, OrchestrationRegistry } from "../runtime/registry.ts";
import { Runtime } from "../runtime/runtime.ts";
import type { OrchestrationContext } from "../runtime/context.ts";

export const DEMO_IDS = {
  completed: "order-1001",
  failed: "payment-2002",
  waiting: "approval-3003",
  parent: "batch-4004",
} as const;

/** The event the waiting instance waits for, and the error text of the failed one. */
export const DEMO_EVENT_NAME = "approval";
export const DEMO_FAILURE_MESSAGE = "card declined: insufficient funds";

export interface DemoStore {
  runtime: Runtime;
  client: Client;
  /** The children of DEMO_IDS.parent, in the order it started them. */
  childIds: string[];
  /** Shuts the runtime down (the provider stays open: the caller owns it). */
  stop(): Promise<void>;
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

function buildRegistries() {
  const activities = ActivityRegistry.builder()
    .register("Validate", async (_ctx, order: { items: string[] }) => {
      await pause(15);
      return { valid: true, count: order.items.length };
    })
    .register("Charge", async (_ctx, req: { amount: number; card: string }) => {
      await pause(25);
      if (req.card === "declined") throw new Error(DEMO_FAILURE_MESSAGE);
      return { chargeId: `ch_${req.amount}` };
    })
    .register("Ship", async (_ctx, item: string) => {
      await pause(20 + item.length);
      return `shipped ${item}`;
    })
    .register("Notify", async (_ctx, who: string) => {
      await pause(10);
      return `notified ${who}`;
    })
    .register("ProcessBatch", async (_ctx, n: number) => {
      await pause(10 + 10 * n);
      return n * n;
    })
    .build();
  const orchestrations = OrchestrationRegistry.builder()
    .register("ProcessOrder", function* (ctx: OrchestrationContext, order: { id: string; items: string[]; amount: number }) {
      ctx.setCustomStatus("validating");
      yield* ctx.scheduleActivity("Validate", order);
      yield* ctx.scheduleTimer(30);
      ctx.setCustomStatus("charging");
      const charge = yield* ctx.scheduleActivity<{ chargeId: string }>("Charge", { amount: order.amount, card: "ok" });
      ctx.setValue("chargeId", charge.chargeId);
      const shipped = yield* ctx.all(order.items.map((i) => ctx.scheduleActivity<string>("Ship", i)));
      ctx.setCustomStatus("shipped");
      ctx.setValue("shipments", shipped.length);
      return { order: order.id, charge: charge.chargeId, shipped };
    })
    .register("ProcessPayment", function* (ctx: OrchestrationContext, req: { amount: number }) {
      yield* ctx.scheduleActivity("Validate", { items: ["payment"] });
      return yield* ctx.scheduleActivity("Charge", { amount: req.amount, card: "declined" });
    })
    .register("AwaitApproval", function* (ctx: OrchestrationContext, req: { approver: string }) {
      yield* ctx.scheduleActivity("Notify", req.approver);
      // Set in the same turn that subscribes: once a client sees this status, the wait is recorded.
      ctx.setCustomStatus(`waiting for ${req.approver}`);
      const decision = yield* ctx.scheduleWait<{ approved: boolean }>(DEMO_EVENT_NAME);
      ctx.setCustomStatus(decision?.approved ? "approved" : "rejected");
      return decision;
    })
    .register("BatchParent", function* (ctx: OrchestrationContext, n: number) {
      const children = Array.from({ length: n }, (_, i) => ctx.scheduleSubOrchestration<number>("BatchChild", i + 1));
      const results = yield* ctx.all(children);
      return { total: results.reduce((a, b) => a + b, 0) };
    })
    .register("BatchChild", function* (ctx: OrchestrationContext, n: number) {
      return yield* ctx.scheduleActivity<number>("ProcessBatch", n);
    })
    .build();
  return { activities, orchestrations };
}

/** Starts a runtime on `provider`, starts the demo instances and waits until each is in its shown state. */
export async function seedDemoStore(provider: Provider): Promise<DemoStore> {
  const { activities, orchestrations } = buildRegistries();
  const runtime = await Runtime.start(provider, activities, orchestrations, { orchestrationConcurrency: 2, workerConcurrency: 4, logLevel: "off" });
  const client = new Client(provider);
  try {
    await client.startOrchestration(DEMO_IDS.completed, "ProcessOrder", { id: "1001", items: ["book", "lamp", "tea"], amount: 42 });
    await client.startOrchestration(DEMO_IDS.failed, "ProcessPayment", { amount: 99 });
    await client.startOrchestration(DEMO_IDS.waiting, "AwaitApproval", { approver: "alice" });
    await client.startOrchestration(DEMO_IDS.parent, "BatchParent", 3);
    const wait = { timeoutMs: 10_000 };
    await Promise.all([
      client.waitForOrchestration(DEMO_IDS.completed, wait),
      client.waitForOrchestration(DEMO_IDS.failed, wait),
      client.waitForOrchestration(DEMO_IDS.parent, wait),
      client.waitForStatusChange(DEMO_IDS.waiting, 0, wait),
    ]);
    const tree = await client.getInstanceTree(DEMO_IDS.parent);
    return { runtime, client, childIds: tree.all_ids.filter((id) => id !== DEMO_IDS.parent), stop: () => runtime.shutdown() };
  } catch (err) {
    await runtime.shutdown();
    throw err;
  }
}
