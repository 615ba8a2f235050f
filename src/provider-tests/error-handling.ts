/**
 * error_handling: bad lock tokens, duplicate event ids and expired locks are refused with permanent
 * errors and change nothing; reads and fetches on missing data answer empty instead of failing.
 */
import { expect } from "bun:test";
import type { ProviderModule } from "./harness.ts";
import {
  defaultTags,
  event,
  expectProviderError,
  fetchOrch,
  runningMeta,
  sleep,
  startItem,
  startedEvent,
} from "./helpers.ts";

export const errorHandling: ProviderModule = {
  name: "error_handling",
  cases: [
    {
      name: "an ack with an unknown lock token fails with LockLost, permanent (test_invalid_lock_token_on_ack)",
      async run(ctx) {
        const p = await ctx.createProvider();
        await expectProviderError(p.ackOrchestrationItem("invalid-token", 1, [], [], [], {}, []), "LockLost");
      },
    },
    {
      name: "an ack re-using an existing event_id fails permanently and history keeps only the original event (test_duplicate_event_id_rejection)",
      async run(ctx) {
        const p = await ctx.createProvider();
        const id = "instance-A";
        await p.enqueueForOrchestrator(startItem(id), null);
        const first = await fetchOrch(p, 30_000);
        await p.ackOrchestrationItem(first.lockToken, 1, [startedEvent(id, 1, { input: "original" })], [], [], runningMeta(), []);

        await p.enqueueForOrchestrator(startItem(id), null);
        const second = await fetchOrch(p, 30_000);
        await expectProviderError(
          p.ackOrchestrationItem(
            second.lockToken,
            1,
            [event(id, 1, 1, { type: "ActivityScheduled", name: "Activity", input: "{}" })],
            [],
            [],
            {},
            [],
          ),
          "Conflict",
        );

        for (const history of [await p.read(id), await p.readWithExecution(id, 1)]) {
          expect(history).toHaveLength(1);
          const only = history[0]!;
          expect(only.event_id).toBe(1);
          expect(only.type).toBe("OrchestrationStarted");
          if (only.type === "OrchestrationStarted") expect(only.input).toBe("original");
        }
      },
    },
    {
      name: "reading the history of an unknown instance returns no events instead of failing (test_missing_instance_metadata)",
      async run(ctx) {
        const p = await ctx.createProvider();
        expect(await p.read("non-existent-instance")).toEqual([]);
        expect(await p.readWithExecution("non-existent-instance", 1)).toEqual([]);
      },
    },
    {
      name: "fetching from an empty store returns null without throwing (test_corrupted_serialization_data)",
      async run(ctx) {
        const p = await ctx.createProvider();
        expect(await p.fetchOrchestrationItem(30_000, 0)).toBeNull();
        expect(await p.fetchWorkItem(30_000, 0, null, defaultTags)).toBeNull();
      },
    },
    {
      name: "an ack after the orchestration lock expired fails permanently even if nobody re-fetched, and commits nothing (test_lock_expiration_during_ack)",
      async run(ctx) {
        const p = await ctx.createProvider();
        const id = "instance-A";
        await p.enqueueForOrchestrator(startItem(id), null);
        const f = await fetchOrch(p, ctx.lockTimeoutMs);

        await sleep(ctx.lockTimeoutMs + 100);
        await expectProviderError(
          p.ackOrchestrationItem(f.lockToken, 1, [startedEvent(id)], [], [], runningMeta(), []),
          "LockLost",
        );

        expect(await p.read(id)).toEqual([]);
        // The batch was not consumed: the Start is delivered again, to an instance with no history.
        const again = await fetchOrch(p, ctx.lockTimeoutMs);
        expect(again.item.instance).toBe(id);
        expect(again.item.messages).toEqual([startItem(id)]);
        expect(again.item.history).toEqual([]);
      },
    },
  ],
};
