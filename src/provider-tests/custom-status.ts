/**
 * custom_status: acks materialize CustomStatusUpdated events onto the instance, and
 * getCustomStatus answers change polls by version.
 */
import { expect } from "bun:test";
import type { Event } from "../core/events.ts";
import type { ExecutionMetadata } from "../core/queue-types.ts";
import type { Provider } from "../provider.ts";
import type { ProviderModule } from "./harness.ts";
import { createRunningInstance, customStatusEvent, event, externalRaisedItem, fetchOrch, runningMeta } from "./helpers.ts";

const LOCK_MS = 30_000;

/** One more turn of execution 1 of `instance`, poked by an external event, acked with `delta`. */
async function turn(p: Provider, instance: string, delta: Event[], metadata: ExecutionMetadata = {}): Promise<void> {
  await p.enqueueForOrchestrator(externalRaisedItem(instance, "poke"), null);
  const f = await fetchOrch(p, LOCK_MS);
  expect(f.item.instance).toBe(instance);
  await p.ackOrchestrationItem(f.lockToken, 1, delta, [], [], metadata, []);
}

/** A turn whose delta is one CustomStatusUpdated event. */
function setStatus(p: Provider, instance: string, eventId: number, status: string | null): Promise<void> {
  return turn(p, instance, [customStatusEvent(instance, 1, eventId, status)]);
}

export const customStatus: ProviderModule = {
  name: "custom_status",
  cases: [
    {
      name: "getInstanceInfo, when it carries custom_status, reports what getCustomStatus does (never set, set, cleared)",
      async run(ctx) {
        const p = await ctx.createProvider();
        const admin = p.asManagementCapability();
        if (admin === null) return; // no management capability: nothing to compare
        const id = "cs-info";
        await createRunningInstance(p, id);
        const agrees = async (status: string | null, version: number) => {
          const info = await admin.getInstanceInfo(id);
          if (info.custom_status_version === undefined && info.custom_status === undefined) return; // optional fields left out
          expect({ status: info.custom_status, version: info.custom_status_version }).toEqual({ status, version });
        };
        await agrees(null, 0);
        await setStatus(p, id, 100, "stage \u00e9 1");
        expect(await p.getCustomStatus(id, 0)).toEqual({ status: "stage \u00e9 1", version: 1 });
        await agrees("stage \u00e9 1", 1);
        await setStatus(p, id, 101, null);
        await agrees(null, 2);
      },
    },
    {
      name: "an ack with CustomStatusUpdated(\"progress\") stores the status at version 1 (test_custom_status_set)",
      async run(ctx) {
        const p = await ctx.createProvider();
        await createRunningInstance(p, "cs-set");
        await setStatus(p, "cs-set", 100, "progress");
        expect(await p.getCustomStatus("cs-set", 0)).toEqual({ status: "progress", version: 1 });
      },
    },
    {
      name: "an ack with CustomStatusUpdated(null) clears the status and bumps the version (test_custom_status_clear)",
      async run(ctx) {
        const p = await ctx.createProvider();
        await createRunningInstance(p, "cs-clear");
        await setStatus(p, "cs-clear", 100, "temp");
        expect(await p.getCustomStatus("cs-clear", 0)).toEqual({ status: "temp", version: 1 });
        await setStatus(p, "cs-clear", 101, null);
        expect(await p.getCustomStatus("cs-clear", 0)).toEqual({ status: null, version: 2 });
      },
    },
    {
      name: "an ack without a CustomStatusUpdated event leaves status and version unchanged (test_custom_status_none_preserves)",
      async run(ctx) {
        const p = await ctx.createProvider();
        const id = "cs-noop";
        await createRunningInstance(p, id);
        await setStatus(p, id, 100, "keep-me");
        await turn(p, id, []);
        expect(await p.getCustomStatus(id, 0)).toEqual({ status: "keep-me", version: 1 });
        // Other events and metadata in an ack do not count as a status update either.
        await turn(p, id, [event(id, 1, 101, { type: "TimerCreated", fire_at_ms: Date.now() + 60_000 })], runningMeta());
        expect(await p.getCustomStatus(id, 0)).toEqual({ status: "keep-me", version: 1 });
      },
    },
    {
      name: "every ack carrying status updates moves the version by exactly one, whatever the number of events (test_custom_status_version_increments)",
      async run(ctx) {
        const p = await ctx.createProvider();
        const id = "cs-ver";
        await createRunningInstance(p, id);
        await setStatus(p, id, 100, "a");
        expect(await p.getCustomStatus(id, 0)).toEqual({ status: "a", version: 1 });
        // Two updates in one delta: only the last one counts, and the version moves by one.
        await turn(p, id, [customStatusEvent(id, 1, 101, "x"), customStatusEvent(id, 1, 102, "b")]);
        expect(await p.getCustomStatus(id, 0)).toEqual({ status: "b", version: 2 });
        await setStatus(p, id, 103, null);
        expect(await p.getCustomStatus(id, 0)).toEqual({ status: null, version: 3 });
      },
    },
    {
      name: "getCustomStatus returns null when the version is not newer than lastSeenVersion, else the status (test_custom_status_polling_no_change)",
      async run(ctx) {
        const p = await ctx.createProvider();
        await createRunningInstance(p, "cs-poll");
        await setStatus(p, "cs-poll", 100, "v1");
        expect(await p.getCustomStatus("cs-poll", 1)).toBeNull();
        expect(await p.getCustomStatus("cs-poll", 2)).toBeNull();
        expect(await p.getCustomStatus("cs-poll", 0)).toEqual({ status: "v1", version: 1 });
      },
    },
    {
      name: "getCustomStatus of an unknown instance returns null (test_custom_status_nonexistent_instance)",
      async run(ctx) {
        const p = await ctx.createProvider();
        expect(await p.getCustomStatus("does-not-exist", 0)).toBeNull();
      },
    },
    {
      name: "a new instance starts with no status at version 0, so a poll from 0 returns null (test_custom_status_default_on_new_instance)",
      async run(ctx) {
        const p = await ctx.createProvider();
        const id = "cs-default";
        await createRunningInstance(p, id);
        expect((await p.read(id)).map((e) => e.type)).toEqual(["OrchestrationStarted"]);
        expect(await p.getCustomStatus(id, 0)).toBeNull();
        // The first update lands on version 1, so the fresh instance really was at 0.
        await setStatus(p, id, 100, "first");
        expect(await p.getCustomStatus(id, 0)).toEqual({ status: "first", version: 1 });
      },
    },
  ],
};
