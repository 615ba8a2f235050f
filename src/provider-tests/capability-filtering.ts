/**
 * capability_filtering: fetchOrchestrationItem's filter on the current execution's pinned
 * duroxide version, how acks store that version, and how undecodable history is reported.
 */
import { expect } from "bun:test";
import { renderErrorDetails, type ErrorDetails } from "../core/error-details.ts";
import type { Event } from "../core/events.ts";
import type { DispatcherCapabilityFilter, FetchedOrchestration } from "../core/queue-types.ts";
import { formatSemver, type Semver } from "../core/semver.ts";
import type { Provider } from "../provider.ts";
import type { ProviderModule } from "./harness.ts";
import {
  continueAsNewItem,
  continuedAsNewEvent,
  event,
  externalRaisedItem,
  fetchOrch,
  requireAdmin,
  runningMeta,
  startItem,
  startedEvent,
  terminalMeta,
} from "./helpers.ts";

/** Orchestration locks these cases release explicitly (or never need to lapse). */
const LOCK_MS = 30_000;

const v = (major: number, minor: number, patch: number): Semver => ({ major, minor, patch });

/** A filter of inclusive ranges, each given as [min, max]. */
function filterOf(...ranges: [Semver, Semver][]): DispatcherCapabilityFilter {
  return { supported_duroxide_versions: ranges.map(([min, max]) => ({ min, max })) };
}

function fetchFiltered(p: Provider, filter: DispatcherCapabilityFilter | null): Promise<FetchedOrchestration | null> {
  return p.fetchOrchestrationItem(LOCK_MS, 0, filter);
}

/** Requires a filtered fetch to return `instance`; returns the fetch. */
async function expectFetched(p: Provider, filter: DispatcherCapabilityFilter | null, instance: string): Promise<FetchedOrchestration> {
  const f = await fetchFiltered(p, filter);
  if (f === null) throw new Error(`expected ${instance} to be fetched, got null`);
  expect(f.item.instance).toBe(instance);
  return f;
}

/** OrchestrationStarted as written by a runtime of version `writer`. */
function startedBy(instance: string, writer: Semver, executionId = 1): Event {
  return { ...startedEvent(instance, executionId), duroxide_version: formatSemver(writer) };
}

/**
 * Creates `instance` with its first execution pinned at `pinned` and leaves one follow-up message
 * (ExternalRaised "ping") queued for it, enqueued by the same ack. Batches of other instances that
 * the unfiltered fetch hands out first are released afterwards (without counting the attempt).
 */
async function seedPinned(p: Provider, instance: string, pinned: Semver | null): Promise<void> {
  await p.enqueueForOrchestrator(startItem(instance), null);
  const others: string[] = [];
  let mine: FetchedOrchestration | null = null;
  while (mine === null) {
    const f = await fetchOrch(p, LOCK_MS);
    if (f.item.instance === instance) mine = f;
    else others.push(f.lockToken);
  }
  const metadata = pinned === null ? runningMeta() : runningMeta("TestOrch", "1.0.0", { pinned_duroxide_version: pinned });
  await p.ackOrchestrationItem(
    mine.lockToken,
    1,
    [startedBy(instance, pinned ?? v(0, 0, 0))],
    [],
    [externalRaisedItem(instance, "ping")],
    metadata,
    [],
  );
  for (const token of others) await p.abandonOrchestrationItem(token, null, true);
}

/** Queues one more message so the instance has work to fetch again. */
function poke(p: Provider, instance: string, name = "ping2"): Promise<void> {
  return p.enqueueForOrchestrator(externalRaisedItem(instance, name), null);
}

/** Fetches `instance` unfiltered and acks the turn with no events and the given pinned version (or none). */
async function ackTurn(p: Provider, instance: string, filter: DispatcherCapabilityFilter | null, pinned: Semver | null): Promise<void> {
  const f = await expectFetched(p, filter, instance);
  const extra = pinned === null ? {} : { pinned_duroxide_version: pinned };
  await p.ackOrchestrationItem(f.lockToken, 1, [], [], [], runningMeta("TestOrch", "1.0.0", extra), []);
}

/** An unfiltered fetch of a corrupted instance: the item with `history_error` set and no history. */
async function expectHistoryError(p: Provider, instance: string): Promise<FetchedOrchestration> {
  const f = await expectFetched(p, null, instance);
  expect(typeof f.item.history_error).toBe("string");
  expect((f.item.history_error ?? "").length).toBeGreaterThan(0);
  expect(f.item.history).toEqual([]);
  return f;
}

export const capabilityFiltering: ProviderModule = {
  name: "capability_filtering",
  cases: [
    {
      name: "without a filter, an instance pinned at any version is fetched (test_fetch_with_filter_none_returns_any_item)",
      async run(ctx) {
        const p = await ctx.createProvider();
        await seedPinned(p, "inst-1", v(1, 2, 3));
        const f = await expectFetched(p, null, "inst-1");
        expect(f.item.messages).toEqual([externalRaisedItem("inst-1", "ping")]);
        expect(f.item.history.map((e) => e.type)).toEqual(["OrchestrationStarted"]);
      },
    },
    {
      name: "a filter range containing the pinned version returns the instance (test_fetch_with_compatible_filter_returns_item)",
      async run(ctx) {
        const p = await ctx.createProvider();
        await seedPinned(p, "inst-2", v(1, 2, 3));
        await expectFetched(p, filterOf([v(1, 0, 0), v(1, 9, 9)]), "inst-2");
      },
    },
    {
      name: "a filter range not containing the pinned version returns null although work is queued (test_fetch_with_incompatible_filter_skips_item)",
      async run(ctx) {
        const p = await ctx.createProvider();
        await seedPinned(p, "inst-3", v(1, 2, 3));
        expect(await fetchFiltered(p, filterOf([v(2, 0, 0), v(2, 9, 9)]))).toBeNull();
        // There was work to skip: the instance is fetchable without the filter.
        await expectFetched(p, null, "inst-3");
      },
    },
    {
      name: "a filtered fetch skips older incompatible instances and selects the compatible one (test_fetch_filter_skips_incompatible_selects_compatible)",
      async run(ctx) {
        const p = await ctx.createProvider();
        await seedPinned(p, "inst-v1", v(1, 0, 0));
        await seedPinned(p, "inst-v2", v(2, 0, 0));
        // inst-v1's message is older, so a v2 filter must look past it.
        const f2 = await expectFetched(p, filterOf([v(2, 0, 0), v(2, 9, 9)]), "inst-v2");
        await p.abandonOrchestrationItem(f2.lockToken, null, true);
        await expectFetched(p, filterOf([v(1, 0, 0), v(1, 9, 9)]), "inst-v1");
      },
    },
    {
      name: "a fetch whose filter excludes an instance neither locks it nor counts an attempt (test_fetch_filter_does_not_lock_skipped_instances)",
      async run(ctx) {
        const p = await ctx.createProvider();
        await seedPinned(p, "inst-5", v(1, 0, 0));
        expect(await fetchFiltered(p, filterOf([v(2, 0, 0), v(2, 9, 9)]))).toBeNull();
        const f = await expectFetched(p, filterOf([v(0, 0, 0), v(1, 9, 9)]), "inst-5");
        expect(f.attemptCount).toBe(1);
      },
    },
    {
      name: "an execution with no stored pinned version matches every filter (test_fetch_filter_null_pinned_version_always_compatible)",
      async run(ctx) {
        const p = await ctx.createProvider();
        await seedPinned(p, "inst-null", null);
        await expectFetched(p, filterOf([v(99, 0, 0), v(99, 9, 9)]), "inst-null");
      },
    },
    {
      name: "filter range bounds are inclusive at both ends and the next version up is excluded (test_fetch_filter_boundary_versions)",
      async run(ctx) {
        const filter = filterOf([v(1, 0, 0), v(1, 9, 99)]);
        const p = await ctx.createProvider();
        await seedPinned(p, "v1-low", v(1, 0, 0));
        const low = await expectFetched(p, filter, "v1-low");
        // Consume v1-low's work so the next filtered fetch can only be answered by v1-high.
        await p.ackOrchestrationItem(low.lockToken, 1, [], [], [], {}, []);
        await seedPinned(p, "v1-high", v(1, 9, 99));
        await expectFetched(p, filter, "v1-high");

        // A second, independent store: 2.0.0 alone, just above the range.
        const p2 = await ctx.createProvider();
        await seedPinned(p2, "v2-exact", v(2, 0, 0));
        expect(await fetchFiltered(p2, filter)).toBeNull();
        await expectFetched(p2, null, "v2-exact");
      },
    },
    {
      name: "the pinned version in ack metadata is stored on the execution and drives the filter (test_pinned_version_stored_via_ack_metadata)",
      async run(ctx) {
        const p = await ctx.createProvider();
        await seedPinned(p, "inst-8", v(3, 1, 4));
        // Excluded by a range that a missing (NULL) pinned version would have matched.
        expect(await fetchFiltered(p, filterOf([v(4, 0, 0), v(4, 9, 9)]))).toBeNull();
        await expectFetched(p, filterOf([v(3, 0, 0), v(3, 9, 9)]), "inst-8");
      },
    },
    {
      name: "an ack without a pinned version keeps the stored one (test_pinned_version_immutable_across_ack_cycles)",
      async run(ctx) {
        const p = await ctx.createProvider();
        const filter = filterOf([v(0, 0, 0), v(1, 9, 9)]);
        await seedPinned(p, "inst-9", v(1, 0, 0));
        await ackTurn(p, "inst-9", filter, null);
        await poke(p, "inst-9");
        // Had the second ack cleared the version, NULL would match this range too.
        expect(await fetchFiltered(p, filterOf([v(2, 0, 0), v(2, 9, 9)]))).toBeNull();
        await expectFetched(p, filter, "inst-9");
      },
    },
    {
      name: "after ContinueAsNew the filter uses the new execution's own pinned version, not the previous one (test_continue_as_new_execution_gets_own_pinned_version)",
      async run(ctx) {
        const p = await ctx.createProvider();
        const id = "inst-can";
        await seedPinned(p, id, v(1, 0, 0));
        const f1 = await expectFetched(p, filterOf([v(0, 0, 0), v(1, 9, 9)]), id);
        await p.ackOrchestrationItem(
          f1.lockToken,
          1,
          [continuedAsNewEvent(id, 1, 2, "{}")],
          [],
          [continueAsNewItem(id)],
          terminalMeta("ContinuedAsNew", "{}"),
          [],
        );
        const f2 = await expectFetched(p, null, id);
        expect(f2.item.messages.map((m) => m.type)).toEqual(["ContinueAsNew"]);
        await p.ackOrchestrationItem(
          f2.lockToken,
          2,
          [startedBy(id, v(2, 0, 0), 2)],
          [],
          [],
          runningMeta("TestOrch", "1.0.0", { pinned_duroxide_version: v(2, 0, 0) }),
          [],
        );
        await poke(p, id, "ping");
        const f3 = await expectFetched(p, filterOf([v(2, 0, 0), v(2, 9, 9)]), id);
        expect(f3.item.execution_id).toBe(2);
        await p.abandonOrchestrationItem(f3.lockToken, null, true);
        expect(await fetchFiltered(p, filterOf([v(1, 0, 0), v(1, 9, 9)]))).toBeNull();
      },
    },
    {
      name: "a filter with an empty range list matches nothing and returns null (test_filter_with_empty_supported_versions_returns_nothing)",
      async run(ctx) {
        const p = await ctx.createProvider();
        await seedPinned(p, "inst-empty", v(1, 0, 0));
        expect(await fetchFiltered(p, { supported_duroxide_versions: [] })).toBeNull();
        await expectFetched(p, null, "inst-empty");
      },
    },
    {
      name: "filtered fetches never lock one instance twice: while it is locked another filtered fetch returns null (test_concurrent_filtered_fetch_no_double_lock)",
      async run(ctx) {
        const p = await ctx.createProvider();
        const filter = filterOf([v(0, 0, 0), v(1, 9, 9)]);
        await seedPinned(p, "inst-conc", v(1, 0, 0));
        const both = await Promise.all([fetchFiltered(p, filter), fetchFiltered(p, filter)]);
        const won = both.filter((f) => f !== null);
        expect(won.length).toBe(1);
        expect(won[0]?.item.instance).toBe("inst-conc");
        expect(await fetchFiltered(p, filter)).toBeNull();
      },
    },
    {
      name: "a later ack can backfill a pinned version that was never stored (test_ack_stores_pinned_version_via_metadata_update)",
      async run(ctx) {
        const p = await ctx.createProvider();
        const id = "inst-backfill";
        await seedPinned(p, id, null);
        await ackTurn(p, id, null, v(1, 2, 3));
        await poke(p, id);
        // Still NULL would match this range; a stored 1.2.3 does not.
        expect(await fetchFiltered(p, filterOf([v(2, 0, 0), v(2, 9, 9)]))).toBeNull();
        await expectFetched(p, filterOf([v(1, 0, 0), v(1, 9, 9)]), id);
      },
    },
    {
      name: "an ack carrying a different pinned version overwrites the stored one (test_provider_updates_pinned_version_when_told)",
      async run(ctx) {
        const p = await ctx.createProvider();
        const id = "inst-update";
        await seedPinned(p, id, v(1, 0, 0));
        await ackTurn(p, id, filterOf([v(0, 0, 0), v(1, 9, 9)]), v(2, 0, 0));
        await poke(p, id);
        const f = await expectFetched(p, filterOf([v(2, 0, 0), v(2, 0, 0)]), id);
        await p.abandonOrchestrationItem(f.lockToken, null, true);
        expect(await fetchFiltered(p, filterOf([v(1, 0, 0), v(1, 0, 0)]))).toBeNull();
      },
    },
    {
      name: "a corrupted instance excluded by the filter gives null; unfiltered it comes back with history_error and empty history (test_fetch_corrupted_history_filtered_vs_unfiltered)",
      requires: ["corruptInstanceHistory"],
      async run(ctx) {
        const p = await ctx.createProvider();
        const id = "inst-corrupt-39";
        await seedPinned(p, id, v(1, 0, 0));
        await ctx.corruptInstanceHistory(id);
        expect(await fetchFiltered(p, filterOf([v(2, 0, 0), v(2, 9, 9)]))).toBeNull();
        const f = await expectHistoryError(p, id);
        // The item carries a held lock: releasing it must work.
        await p.abandonOrchestrationItem(f.lockToken, null, true);
      },
    },
    {
      name: "each fetch of undecodable history returns history_error with a held lock and counts an attempt (test_fetch_deserialization_error_increments_attempt_count)",
      requires: ["corruptInstanceHistory", "getMaxAttemptCount"],
      async run(ctx) {
        const p = await ctx.createProvider();
        const id = "inst-deser-41";
        await seedPinned(p, id, v(1, 0, 0));
        await ctx.corruptInstanceHistory(id);
        for (let attempt = 1; attempt <= 2; attempt++) {
          const f = await expectHistoryError(p, id);
          expect(f.attemptCount).toBe(attempt);
          await p.abandonOrchestrationItem(f.lockToken, null, false);
        }
        expect(await ctx.getMaxAttemptCount(id)).toBeGreaterThanOrEqual(2);
      },
    },
    {
      name: "repeated fetches of undecodable history keep counting attempts up to the poison threshold (test_fetch_deserialization_error_eventually_reaches_poison)",
      requires: ["corruptInstanceHistory", "getMaxAttemptCount"],
      async run(ctx) {
        const p = await ctx.createProvider();
        const id = "inst-poison-42";
        await seedPinned(p, id, v(1, 0, 0));
        await ctx.corruptInstanceHistory(id);
        const cycles = 5;
        for (let attempt = 1; attempt <= cycles; attempt++) {
          const f = await expectHistoryError(p, id);
          expect(f.attemptCount).toBe(attempt);
          await p.abandonOrchestrationItem(f.lockToken, null, false);
        }
        expect(await ctx.getMaxAttemptCount(id)).toBeGreaterThanOrEqual(cycles);
      },
    },
    {
      name: "the filter runs before history is decoded: an excluded corrupted instance gives null, not history_error (test_fetch_filter_applied_before_history_deserialization)",
      requires: ["corruptInstanceHistory"],
      async run(ctx) {
        const p = await ctx.createProvider();
        const id = "inst-order-43";
        await seedPinned(p, id, v(99, 0, 0));
        await ctx.corruptInstanceHistory(id);
        expect(await fetchFiltered(p, filterOf([v(1, 0, 0), v(2, 0, 0)]))).toBeNull();
        const f = await expectHistoryError(p, id);
        await p.abandonOrchestrationItem(f.lockToken, null, true);
      },
    },
    {
      name: "with several ranges the first range is honoured (honouring all is also allowed) and versions outside every range are never returned (test_fetch_single_range_only_uses_first_range)",
      async run(ctx) {
        const p = await ctx.createProvider();
        // inst-range-c (outside both ranges) holds the oldest message, so a provider that ignored
        // the filter would hand it out first.
        await seedPinned(p, "inst-range-c", v(2, 0, 0));
        await seedPinned(p, "inst-range-a", v(1, 0, 0));
        await seedPinned(p, "inst-range-b", v(3, 0, 0));
        const filter = filterOf([v(1, 0, 0), v(1, 5, 0)], [v(3, 0, 0), v(3, 5, 0)]);

        const first = await expectFetched(p, filter, "inst-range-a");
        await p.abandonOrchestrationItem(first.lockToken, null, true);

        // The contract allows honouring only the first range (reference) or all ranges. Both pick
        // inst-range-a again here, since its message is older than inst-range-b's: so the next
        // fetch must not return inst-range-b.
        const second = await expectFetched(p, filter, "inst-range-a");

        // With inst-range-a locked the two behaviours differ: first-range-only returns null,
        // all-ranges returns inst-range-b. Neither may return inst-range-c.
        const third = await fetchFiltered(p, filter);
        if (third !== null) expect(third.item.instance).toBe("inst-range-b");
        await p.abandonOrchestrationItem(second.lockToken, null, true);
      },
    },
    {
      name: "an ack appending OrchestrationFailed over corrupted history succeeds (ack is append-only) and marks the instance Failed (test_ack_appends_event_to_corrupted_history)",
      requires: ["management", "corruptInstanceHistory"],
      async run(ctx) {
        const p = await ctx.createProvider();
        const admin = requireAdmin(p);
        const id = "inst-ack-corrupt-45";
        await seedPinned(p, id, v(1, 0, 0));
        await ctx.corruptInstanceHistory(id);
        const f = await expectHistoryError(p, id);
        const historyError = f.item.history_error ?? "";
        const details: ErrorDetails = {
          type: "Poison",
          attempt_count: 4,
          max_attempts: 3,
          message_type: { type: "FailedDeserialization", instance: id, execution_id: f.item.execution_id, error: historyError },
          message: `history deserialization failed: ${historyError}`,
        };
        const output = renderErrorDetails(details);
        // The runtime's poison termination uses a sentinel event id far past the stored history.
        await p.ackOrchestrationItem(
          f.lockToken,
          f.item.execution_id,
          [event(id, f.item.execution_id, 99999, { type: "OrchestrationFailed", details })],
          [],
          [],
          {
            status: "Failed",
            output,
            orchestration_name: f.item.orchestration_name,
            orchestration_version: f.item.version,
          },
          [],
        );
        const info = await admin.getInstanceInfo(id);
        expect(info.status).toBe("Failed");
        expect(info.output).toBe(output);
        expect(info.output ?? "").toContain("deserialization failed");
        // The turn was consumed and the lock released.
        expect(await p.fetchOrchestrationItem(ctx.lockTimeoutMs, 0)).toBeNull();
      },
    },
  ],
};
