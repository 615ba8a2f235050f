/**
 * sessions: implicit session routing on the worker queue. Items sharing a session_id are pinned to
 * the owner that claimed the session while its session lock is live; plain items go to anyone.
 * Session ownership only routes work: it never replaces or invalidates the per-row work-item lock.
 *
 * Timing: short session locks (50 / 200 ms) are waited out with generous margins so the cases
 * survive a loaded CI machine; "still owned" checks use 30 s session locks.
 */
import { expect } from "bun:test";
import type { FetchedWorkItem, SessionFetchConfig } from "../core/queue-types.ts";
import { TagFilter } from "../core/queue-types.ts";
import type { WorkItem, WorkItemOf } from "../core/work-items.ts";
import type { Provider } from "../provider.ts";
import type { ProviderModule } from "./harness.ts";
import { activityCompletedItem, activityItem, createRunningInstance, fetchOrch, sleep } from "./helpers.ts";

/** Work-item lock for cases where it must not lapse. */
const WORK_LOCK_MS = 5_000;
/** Session lock for cases where ownership must hold for the whole case. */
const LONG_SESSION_MS = 30_000;
/** A session lock short enough to wait out. */
const SHORT_SESSION_MS = 50;
/** Sleep that lets a SHORT_SESSION_MS lock lapse even on a loaded machine. */
const SHORT_SESSION_LAPSE_MS = 150;
/** Idle timeout large enough that nothing counts as idle. */
const NEVER_IDLE_MS = 300_000;

type ActivityExecute = WorkItemOf<"ActivityExecute">;

function cfg(owner: string, lockTimeout = LONG_SESSION_MS): SessionFetchConfig {
  return { owner_id: owner, lock_timeout: lockTimeout };
}

function sessionItem(instance: string, id: number, sessionId: string): ActivityExecute {
  return activityItem(instance, id, { name: "SessionActivity", sessionId });
}

function plainItem(instance: string, id: number): ActivityExecute {
  return activityItem(instance, id, { name: "PlainActivity" });
}

function asActivity(item: WorkItem): ActivityExecute {
  expect(item.type).toBe("ActivityExecute");
  return item as ActivityExecute;
}

/** session_id of a fetched item, with "absent" and null both reported as null. */
function sessionOf(item: ActivityExecute): string | null {
  return item.session_id ?? null;
}

function fetchAs(p: Provider, session: SessionFetchConfig | null, workLockMs = WORK_LOCK_MS): Promise<FetchedWorkItem | null> {
  return p.fetchWorkItem(workLockMs, 0, session, TagFilter.defaultOnly());
}

interface Claimed {
  act: ActivityExecute;
  token: string;
  attempt: number;
}

/** Fetch and require an ActivityExecute. */
async function claim(p: Provider, session: SessionFetchConfig | null, workLockMs = WORK_LOCK_MS): Promise<Claimed> {
  const f = await fetchAs(p, session, workLockMs);
  if (f === null) throw new Error(`expected a work item for ${session ? `owner ${session.owner_id}` : "a session-less fetch"}, got null`);
  return { act: asActivity(f.item), token: f.lockToken, attempt: f.attemptCount };
}

/** Enqueue one session item, let `owner` claim it and ack it, leaving `owner` the session's holder. */
async function ownSession(p: Provider, owner: string, sessionId: string, opts: { instance?: string; id?: number; sessionLockMs?: number } = {}): Promise<void> {
  const instance = opts.instance ?? "inst-1";
  const id = opts.id ?? 1;
  await p.enqueueForWorker(sessionItem(instance, id, sessionId));
  const c = await claim(p, cfg(owner, opts.sessionLockMs ?? LONG_SESSION_MS));
  expect(c.act.id).toBe(id);
  expect(sessionOf(c.act)).toBe(sessionId);
  await p.ackWorkItem(c.token, null);
}

export const sessions: ProviderModule = {
  name: "sessions",
  cases: [
    {
      name: "a plain (session-less) item is fetchable by a worker that passes a session config (test_non_session_items_fetchable_by_any_worker)",
      async run(ctx) {
        const p = await ctx.createProvider();
        await p.enqueueForWorker(plainItem("inst-1", 1));
        const c = await claim(p, cfg("worker-A"));
        expect(c.act.id).toBe(1);
        expect(c.act.instance).toBe("inst-1");
        expect(sessionOf(c.act)).toBeNull();
        // A plain item must not create a session for the fetcher.
        expect(await p.renewSessionLock(["worker-A"], LONG_SESSION_MS, NEVER_IDLE_MS)).toBe(0);
      },
    },
    {
      name: "an item of an unowned session is claimable with a session config and comes back with its session_id (test_session_item_claimable_when_no_session)",
      async run(ctx) {
        const p = await ctx.createProvider();
        await p.enqueueForWorker(sessionItem("inst-1", 1, "session-1"));
        const c = await claim(p, cfg("worker-A"));
        expect(c.act.id).toBe(1);
        expect(c.act.name).toBe("SessionActivity");
        expect(sessionOf(c.act)).toBe("session-1");
        expect(c.attempt).toBe(1);
      },
    },
    {
      name: "after a worker claimed a session and acked its item, the same worker gets the session's next item (test_session_affinity_same_worker)",
      async run(ctx) {
        const p = await ctx.createProvider();
        await ownSession(p, "worker-A", "session-1");
        await p.enqueueForWorker(sessionItem("inst-1", 2, "session-1"));
        const c = await claim(p, cfg("worker-A"));
        expect(c.act.id).toBe(2);
        expect(sessionOf(c.act)).toBe("session-1");
      },
    },
    {
      name: "another owner gets null for items of a session whose lock is held by a different owner (test_session_affinity_blocks_other_worker)",
      async run(ctx) {
        const p = await ctx.createProvider();
        await ownSession(p, "worker-A", "session-1");
        await p.enqueueForWorker(sessionItem("inst-1", 2, "session-1"));
        expect(await fetchAs(p, cfg("worker-B"))).toBeNull();
        // The item was only withheld from B, not lost.
        const c = await claim(p, cfg("worker-A"));
        expect(c.act.id).toBe(2);
      },
    },
    {
      name: "releaseSessionLocks ends the named owners' live session locks at once: another owner claims the session's next item, other owners keep theirs, and the count is returned (graceful shutdown, docs/provider-contract.md §5.3)",
      requires: ["releaseSessionLocks"],
      async run(ctx) {
        const p = await ctx.createProvider();
        await ownSession(p, "worker-A", "rel-sess-a", { instance: "inst-1" });
        await ownSession(p, "worker-A", "rel-sess-a2", { instance: "inst-2" });
        await ownSession(p, "worker-C", "rel-sess-c", { instance: "inst-3" });
        // A filter naming only other sessions releases nothing.
        expect(await p.releaseSessionLocks!(["worker-A"], ["rel-sess-c", "unknown-session"])).toBe(0);
        expect(await p.releaseSessionLocks!(["worker-A"], ["rel-sess-a2"])).toBe(1);
        expect(await p.releaseSessionLocks!(["worker-A"])).toBe(1); // rel-sess-a; rel-sess-a2 is no longer live
        expect(await p.releaseSessionLocks!(["worker-A"], null)).toBe(0);
        expect(await p.releaseSessionLocks!([])).toBe(0);

        await p.enqueueForWorker(sessionItem("inst-1", 2, "rel-sess-a"));
        const b = await claim(p, cfg("worker-B"));
        expect(b.act.id).toBe(2);
        expect(sessionOf(b.act)).toBe("rel-sess-a");
        // worker-C was not named: its session stays pinned to it.
        await p.enqueueForWorker(sessionItem("inst-3", 2, "rel-sess-c"));
        expect(await fetchAs(p, cfg("worker-B"))).toBeNull();
        expect((await claim(p, cfg("worker-C"))).act.id).toBe(2);
        // A released session is not renewed back to life.
        expect(await p.renewSessionLock(["worker-A"], LONG_SESSION_MS, NEVER_IDLE_MS)).toBe(0);
      },
    },
    {
      name: "different sessions owned by different workers each route their next item to their own owner (test_different_sessions_different_workers)",
      async run(ctx) {
        const p = await ctx.createProvider();
        await ownSession(p, "worker-A", "session-1", { instance: "inst-1" });
        await ownSession(p, "worker-B", "session-2", { instance: "inst-2" });
        // session-2's item is older, so A must skip B's session to reach its own.
        await p.enqueueForWorker(sessionItem("inst-2", 2, "session-2"));
        await p.enqueueForWorker(sessionItem("inst-1", 2, "session-1"));

        const a = await claim(p, cfg("worker-A"));
        expect(sessionOf(a.act)).toBe("session-1");
        expect(a.act.instance).toBe("inst-1");
        expect(a.act.id).toBe(2);

        const b = await claim(p, cfg("worker-B"));
        expect(sessionOf(b.act)).toBe("session-2");
        expect(b.act.instance).toBe("inst-2");
        expect(b.act.id).toBe(2);
      },
    },
    {
      name: "a worker blocked from another owner's session still receives the plain item queued behind it (test_mixed_session_and_non_session_items)",
      async run(ctx) {
        const p = await ctx.createProvider();
        await ownSession(p, "worker-A", "session-1");
        await p.enqueueForWorker(sessionItem("inst-1", 2, "session-1"));
        await p.enqueueForWorker(plainItem("inst-2", 1));

        const b = await claim(p, cfg("worker-B"));
        expect(sessionOf(b.act)).toBeNull();
        expect(b.act.instance).toBe("inst-2");
        expect(b.act.id).toBe(1);
        expect(await fetchAs(p, cfg("worker-B"))).toBeNull();
      },
    },
    {
      name: "once the owner's session lock (50 ms) lapses another worker can claim the session (test_session_claimable_after_lock_expiry)",
      async run(ctx) {
        const p = await ctx.createProvider();
        await ownSession(p, "worker-A", "session-1", { sessionLockMs: SHORT_SESSION_MS });
        await sleep(SHORT_SESSION_LAPSE_MS);
        await p.enqueueForWorker(sessionItem("inst-1", 2, "session-1"));

        const b = await claim(p, cfg("worker-B"));
        expect(b.act.id).toBe(2);
        expect(sessionOf(b.act)).toBe("session-1");
        // The claim moved ownership to B.
        expect(await p.renewSessionLock(["worker-B"], LONG_SESSION_MS, NEVER_IDLE_MS)).toBe(1);
      },
    },
    {
      name: "a fetch with session = null returns only session-less items; session items appear only with a session config (test_none_session_skips_session_items)",
      async run(ctx) {
        const p = await ctx.createProvider();
        await p.enqueueForWorker(sessionItem("inst-1", 1, "session-1"));
        await p.enqueueForWorker(plainItem("inst-2", 2));

        const plain = await claim(p, null);
        expect(plain.act.id).toBe(2);
        expect(sessionOf(plain.act)).toBeNull();
        await p.ackWorkItem(plain.token, null);

        expect(await fetchAs(p, null)).toBeNull();

        const s = await claim(p, cfg("worker-A"));
        expect(s.act.id).toBe(1);
        expect(sessionOf(s.act)).toBe("session-1");
      },
    },
    {
      name: "one owner with a session config receives items of several unowned sessions and plain items, in FIFO order (test_some_session_returns_all_items)",
      async run(ctx) {
        const p = await ctx.createProvider();
        await p.enqueueForWorker(sessionItem("inst-1", 1, "sess-A"));
        await p.enqueueForWorker(sessionItem("inst-2", 2, "sess-B"));
        await p.enqueueForWorker(sessionItem("inst-3", 3, "sess-C"));
        await p.enqueueForWorker(plainItem("inst-4", 4));

        const ids: number[] = [];
        for (let i = 0; i < 4; i++) {
          const c = await claim(p, cfg("shared-proc"));
          ids.push(c.act.id);
          await p.ackWorkItem(c.token, null);
        }
        expect(ids).toEqual([1, 2, 3, 4]);
        expect(await fetchAs(p, cfg("shared-proc"))).toBeNull();
      },
    },
    {
      name: "renewSessionLock renews every live, active session of the owner and returns the count: 1, then 2 (test_renew_session_lock_active)",
      async run(ctx) {
        const p = await ctx.createProvider();
        await ownSession(p, "worker-A", "session-1", { instance: "inst-1", sessionLockMs: 5_000 });
        expect(await p.renewSessionLock(["worker-A"], LONG_SESSION_MS, NEVER_IDLE_MS)).toBe(1);

        await ownSession(p, "worker-A", "session-2", { instance: "inst-2" });
        expect(await p.renewSessionLock(["worker-A"], LONG_SESSION_MS, NEVER_IDLE_MS)).toBe(2);
        // Renewal is scoped to the listed owners.
        expect(await p.renewSessionLock(["worker-B"], LONG_SESSION_MS, NEVER_IDLE_MS)).toBe(0);
      },
    },
    {
      name: "renewSessionLock skips idle sessions: with idle timeout 0 nothing is renewed (test_renew_session_lock_skips_idle)",
      async run(ctx) {
        const p = await ctx.createProvider();
        await ownSession(p, "worker-A", "session-1");
        expect(await p.renewSessionLock(["worker-A"], LONG_SESSION_MS, 0)).toBe(0);
      },
    },
    {
      name: "renewSessionLock for an owner that holds no sessions returns 0 (test_renew_session_lock_no_sessions)",
      async run(ctx) {
        const p = await ctx.createProvider();
        expect(await p.renewSessionLock(["worker-A"], LONG_SESSION_MS, NEVER_IDLE_MS)).toBe(0);
        // Another owner's session does not count for worker-A.
        await ownSession(p, "worker-B", "session-1");
        expect(await p.renewSessionLock(["worker-A"], LONG_SESSION_MS, NEVER_IDLE_MS)).toBe(0);
      },
    },
    {
      name: "cleanupOrphanedSessions removes a session whose lock expired and that has no queued items, returning 1 (test_cleanup_removes_expired_no_items)",
      async run(ctx) {
        const p = await ctx.createProvider();
        await ownSession(p, "worker-A", "session-1", { sessionLockMs: SHORT_SESSION_MS });
        await sleep(SHORT_SESSION_LAPSE_MS);
        expect(await p.cleanupOrphanedSessions(NEVER_IDLE_MS)).toBe(1);
        // It is really gone: a second sweep finds nothing.
        expect(await p.cleanupOrphanedSessions(NEVER_IDLE_MS)).toBe(0);
      },
    },
    {
      name: "cleanupOrphanedSessions keeps an expired session that still has a queued item (returns 0) (test_cleanup_keeps_sessions_with_pending_items)",
      async run(ctx) {
        const p = await ctx.createProvider();
        await ownSession(p, "worker-A", "session-1", { sessionLockMs: SHORT_SESSION_MS });
        await p.enqueueForWorker(sessionItem("inst-1", 2, "session-1"));
        await sleep(SHORT_SESSION_LAPSE_MS);
        expect(await p.cleanupOrphanedSessions(NEVER_IDLE_MS)).toBe(0);
      },
    },
    {
      name: "cleanupOrphanedSessions keeps a session whose lock is still live (returns 0) (test_cleanup_keeps_active_sessions)",
      async run(ctx) {
        const p = await ctx.createProvider();
        await ownSession(p, "worker-A", "session-1", { sessionLockMs: NEVER_IDLE_MS });
        expect(await p.cleanupOrphanedSessions(NEVER_IDLE_MS)).toBe(0);
        // Ownership survived the sweep.
        await p.enqueueForWorker(sessionItem("inst-1", 2, "session-1"));
        expect(await fetchAs(p, cfg("worker-B"))).toBeNull();
      },
    },
    {
      name: "acking a session item refreshes the session's last activity, so a 200 ms idle-window renewal after a 250 ms turn still renews it (test_ack_updates_session_last_activity)",
      async run(ctx) {
        const p = await ctx.createProvider();
        const idleWindowMs = 200;
        await p.enqueueForWorker(sessionItem("inst-1", 1, "session-1"));
        const c = await claim(p, cfg("worker-A"));

        await sleep(idleWindowMs + 50);
        // Without a refresh the session now looks idle (this check only gets truer with delay).
        expect(await p.renewSessionLock(["worker-A"], LONG_SESSION_MS, idleWindowMs)).toBe(0);

        await p.ackWorkItem(c.token, activityCompletedItem("inst-1", 1, "ok"));
        expect(await p.renewSessionLock(["worker-A"], LONG_SESSION_MS, idleWindowMs)).toBe(1);
      },
    },
    {
      name: "renewing a session item's work lock refreshes the session's last activity, so a 200 ms idle-window renewal still renews it (test_renew_work_item_updates_session_last_activity)",
      async run(ctx) {
        const p = await ctx.createProvider();
        const idleWindowMs = 200;
        await p.enqueueForWorker(sessionItem("inst-1", 1, "session-1"));
        const c = await claim(p, cfg("worker-A"));

        await sleep(idleWindowMs + 50);
        expect(await p.renewSessionLock(["worker-A"], LONG_SESSION_MS, idleWindowMs)).toBe(0);

        await p.renewWorkItemLock(c.token, LONG_SESSION_MS);
        expect(await p.renewSessionLock(["worker-A"], LONG_SESSION_MS, idleWindowMs)).toBe(1);
      },
    },
    {
      name: "items of one session are delivered to its owner in enqueue order 1, 2, 3 (test_session_items_processed_in_order)",
      async run(ctx) {
        const p = await ctx.createProvider();
        for (const id of [1, 2, 3]) await p.enqueueForWorker(sessionItem("inst-1", id, "session-1"));
        const ids: number[] = [];
        for (let i = 0; i < 3; i++) {
          const c = await claim(p, cfg("worker-A"));
          expect(sessionOf(c.act)).toBe("session-1");
          ids.push(c.act.id);
          await p.ackWorkItem(c.token, null);
        }
        expect(ids).toEqual([1, 2, 3]);
        expect(await fetchAs(p, cfg("worker-A"))).toBeNull();
      },
    },
    {
      name: "a worker that owns a session still receives plain items (test_non_session_items_returned_with_session_config)",
      async run(ctx) {
        const p = await ctx.createProvider();
        await ownSession(p, "worker-A", "session-1");
        await p.enqueueForWorker(plainItem("inst-2", 1));
        const c = await claim(p, cfg("worker-A"));
        expect(sessionOf(c.act)).toBeNull();
        expect(c.act.instance).toBe("inst-2");
        expect(c.act.id).toBe(1);
      },
    },
    {
      name: "all callers sharing one owner_id reach an owned session's items, even concurrently; a different owner gets null (test_shared_worker_id_any_caller_can_fetch_owned_session)",
      async run(ctx) {
        const p = await ctx.createProvider();
        await p.enqueueForWorker(sessionItem("inst-1", 1, "shared-sess"));
        await p.enqueueForWorker(sessionItem("inst-1", 2, "shared-sess"));

        // Two slots of "process-1" hold one item each at the same time.
        const slot1 = await claim(p, cfg("process-1"));
        expect(slot1.act.id).toBe(1);
        const slot2 = await claim(p, cfg("process-1"));
        expect(slot2.act.id).toBe(2);
        expect(sessionOf(slot2.act)).toBe("shared-sess");
        await p.ackWorkItem(slot1.token, null);
        await p.ackWorkItem(slot2.token, null);

        await p.enqueueForWorker(sessionItem("inst-1", 3, "shared-sess"));
        expect(await fetchAs(p, cfg("process-2"))).toBeNull();
        const slot3 = await claim(p, cfg("process-1"));
        expect(slot3.act.id).toBe(3);
      },
    },
    {
      name: "when two owners race for an unowned session exactly one wins; while it holds item 1 the loser gets null for item 2 (test_concurrent_session_claim_only_one_wins)",
      async run(ctx) {
        const p = await ctx.createProvider();
        await p.enqueueForWorker(sessionItem("inst-1", 1, "contested-sess"));
        await p.enqueueForWorker(sessionItem("inst-1", 2, "contested-sess"));

        const [ra, rb] = await Promise.all([fetchAs(p, cfg("worker-A")), fetchAs(p, cfg("worker-B"))]);
        const winners = [ra, rb].filter((r): r is FetchedWorkItem => r !== null);
        expect(winners.length).toBe(1);
        const won = winners[0];
        if (won === undefined) throw new Error("unreachable: one winner expected");
        const winnerAct = asActivity(won.item);
        expect(winnerAct.id).toBe(1);
        const winner = ra !== null ? "worker-A" : "worker-B";
        const loser = ra !== null ? "worker-B" : "worker-A";

        // The winner still holds item 1 (not acked): the loser cannot take item 2.
        expect(await fetchAs(p, cfg(loser))).toBeNull();

        await p.ackWorkItem(won.lockToken, null);
        expect(await fetchAs(p, cfg(loser))).toBeNull();
        const next = await claim(p, cfg(winner));
        expect(next.act.id).toBe(2);
      },
    },
    {
      name: "after the owner's 50 ms session lock lapses another worker takes the session over and then keeps it from the old owner (test_session_takeover_after_lock_expiry)",
      async run(ctx) {
        const p = await ctx.createProvider();
        await ownSession(p, "worker-A", "takeover-sess", { sessionLockMs: SHORT_SESSION_MS });
        await p.enqueueForWorker(sessionItem("inst-1", 2, "takeover-sess"));
        await sleep(SHORT_SESSION_LAPSE_MS);

        const b = await claim(p, cfg("worker-B"));
        expect(b.act.id).toBe(2);
        expect(sessionOf(b.act)).toBe("takeover-sess");

        await p.enqueueForWorker(sessionItem("inst-1", 3, "takeover-sess"));
        expect(await fetchAs(p, cfg("worker-A"))).toBeNull();
      },
    },
    {
      name: "after cleanup removed an expired session row, a new item for that session id is claimable by another worker (test_cleanup_then_new_item_recreates_session)",
      async run(ctx) {
        const p = await ctx.createProvider();
        await ownSession(p, "worker-A", "ephemeral-sess", { sessionLockMs: SHORT_SESSION_MS });
        await sleep(SHORT_SESSION_LAPSE_MS);
        expect(await p.cleanupOrphanedSessions(NEVER_IDLE_MS)).toBe(1);

        await p.enqueueForWorker(sessionItem("inst-1", 2, "ephemeral-sess"));
        const b = await claim(p, cfg("worker-B"));
        expect(b.act.id).toBe(2);
        expect(sessionOf(b.act)).toBe("ephemeral-sess");
        // The session row was re-created for B.
        expect(await p.renewSessionLock(["worker-B"], LONG_SESSION_MS, NEVER_IDLE_MS)).toBe(1);
      },
    },
    {
      name: "an abandoned session item is redelivered to its owner with attempt 2, and nothing remains after the ack (test_abandoned_session_item_retryable)",
      async run(ctx) {
        const p = await ctx.createProvider();
        await p.enqueueForWorker(sessionItem("inst-1", 1, "retry-sess"));
        const first = await claim(p, cfg("worker-A"));
        expect(first.act.id).toBe(1);
        expect(first.attempt).toBe(1);

        await p.abandonWorkItem(first.token, null, false);

        const second = await claim(p, cfg("worker-A"));
        expect(second.act.id).toBe(1);
        expect(sessionOf(second.act)).toBe("retry-sess");
        expect(second.attempt).toBe(2);
        expect(second.token).not.toBe(first.token);

        await p.ackWorkItem(second.token, null);
        expect(await fetchAs(p, cfg("worker-A"))).toBeNull();
      },
    },
    {
      name: "abandoning a session item with ignoreAttempt keeps its attempt count at 1 on redelivery (test_abandoned_session_item_ignore_attempt)",
      async run(ctx) {
        const p = await ctx.createProvider();
        await p.enqueueForWorker(sessionItem("inst-1", 1, "ignore-sess"));
        const first = await claim(p, cfg("worker-A"));
        expect(first.attempt).toBe(1);

        await p.abandonWorkItem(first.token, 1, true);
        await sleep(20); // past the 1 ms visibility delay

        const second = await claim(p, cfg("worker-A"));
        expect(second.act.id).toBe(1);
        expect(second.attempt).toBe(1);
        await p.ackWorkItem(second.token, null);
      },
    },
    {
      name: "renewSessionLock does not revive a session whose lock already expired (returns 0) (test_renew_session_lock_after_expiry_returns_zero)",
      async run(ctx) {
        const p = await ctx.createProvider();
        await ownSession(p, "worker-A", "expired-sess", { sessionLockMs: SHORT_SESSION_MS });
        await sleep(SHORT_SESSION_LAPSE_MS);
        expect(await p.renewSessionLock(["worker-A"], LONG_SESSION_MS, NEVER_IDLE_MS)).toBe(0);
      },
    },
    {
      name: "the original owner can re-claim its own expired session and gets the next item (test_original_worker_reclaims_expired_session)",
      async run(ctx) {
        const p = await ctx.createProvider();
        await ownSession(p, "worker-A", "reclaim-sess", { sessionLockMs: SHORT_SESSION_MS });
        await p.enqueueForWorker(sessionItem("inst-1", 2, "reclaim-sess"));
        await sleep(SHORT_SESSION_LAPSE_MS);

        const a = await claim(p, cfg("worker-A"));
        expect(a.act.id).toBe(2);
        expect(sessionOf(a.act)).toBe("reclaim-sess");
      },
    },
    {
      name: "when the work lock (500 ms) lapses but the session lock holds, only the session owner gets the redelivery, with attempt 2 (test_activity_lock_expires_session_lock_valid_same_worker_refetches)",
      async run(ctx) {
        const p = await ctx.createProvider();
        const shortWorkLockMs = 500;
        await p.enqueueForWorker(sessionItem("inst-1", 1, "sticky-sess"));
        const first = await claim(p, cfg("worker-A"), shortWorkLockMs);
        expect(first.attempt).toBe(1);

        await sleep(shortWorkLockMs + 150);

        expect(await fetchAs(p, cfg("worker-B"))).toBeNull();
        const again = await claim(p, cfg("worker-A"));
        expect(again.act.id).toBe(1);
        expect(again.attempt).toBe(2);
        await p.ackWorkItem(again.token, null);
      },
    },
    {
      name: "when the session lock lapses while the owner's work lock holds, a new owner claims the session; after the old holder abandons, the new owner gets item 1 with attempt 2 (test_session_lock_expires_new_owner_gets_redelivery)",
      async run(ctx) {
        const p = await ctx.createProvider();
        const shortSessionMs = 200;
        await p.enqueueForWorker(sessionItem("inst-1", 1, "takeover2-sess"));
        const a = await claim(p, cfg("worker-A", shortSessionMs), WORK_LOCK_MS);
        expect(a.act.id).toBe(1);

        await sleep(shortSessionMs + 150);
        await p.enqueueForWorker(sessionItem("inst-1", 2, "takeover2-sess"));

        const b = await claim(p, cfg("worker-B"));
        expect(b.act.id).toBe(2);
        expect(sessionOf(b.act)).toBe("takeover2-sess");
        await p.ackWorkItem(b.token, null);

        // A's work lock is still live, so its abandon must succeed.
        await p.abandonWorkItem(a.token, null, false);

        const redelivered = await claim(p, cfg("worker-B"));
        expect(redelivered.act.id).toBe(1);
        expect(redelivered.attempt).toBe(2);
        await p.ackWorkItem(redelivered.token, null);
      },
    },
    {
      name: "an owner whose session lock lapsed re-acquires the session on its next fetch and gets item 2 (test_session_lock_expires_same_worker_reacquires)",
      async run(ctx) {
        const p = await ctx.createProvider();
        const shortSessionMs = 200;
        await ownSession(p, "worker-A", "reacq-sess", { sessionLockMs: shortSessionMs });
        await sleep(shortSessionMs + 150);
        await p.enqueueForWorker(sessionItem("inst-1", 2, "reacq-sess"));

        const a = await claim(p, cfg("worker-A", shortSessionMs));
        expect(a.act.id).toBe(2);
        expect(sessionOf(a.act)).toBe("reacq-sess");
        await p.ackWorkItem(a.token, null);
      },
    },
    {
      name: "when both the work lock and the session lock lapsed, a different worker claims the item with attempt 2 (test_both_locks_expire_different_worker_claims)",
      async run(ctx) {
        const p = await ctx.createProvider();
        const shortLockMs = 200;
        await p.enqueueForWorker(sessionItem("inst-1", 1, "both-expire-sess"));
        await claim(p, cfg("worker-A", shortLockMs), shortLockMs);

        await sleep(shortLockMs + 200);

        const b = await claim(p, cfg("worker-B"));
        expect(b.act.id).toBe(1);
        expect(sessionOf(b.act)).toBe("both-expire-sess");
        expect(b.attempt).toBe(2);
        await p.ackWorkItem(b.token, null);
      },
    },
    {
      name: "a worker can still ack its item after its session lock lapsed as long as the work lock is live; the completion is enqueued (test_session_lock_expires_activity_lock_valid_ack_succeeds)",
      async run(ctx) {
        const p = await ctx.createProvider();
        const shortSessionMs = 200;
        // A live instance, so the enqueued completion can be fetched back from the orchestrator queue.
        await createRunningInstance(p, "inst-1", { lockTimeoutMs: ctx.lockTimeoutMs });
        await p.enqueueForWorker(sessionItem("inst-1", 1, "sess-expires"));
        const a = await claim(p, cfg("worker-A", shortSessionMs), LONG_SESSION_MS);

        await sleep(shortSessionMs + 150);
        // The session really lapsed: it can no longer be renewed.
        expect(await p.renewSessionLock(["worker-A"], LONG_SESSION_MS, NEVER_IDLE_MS)).toBe(0);

        await p.ackWorkItem(a.token, activityCompletedItem("inst-1", 1, "done"));

        expect(await fetchAs(p, cfg("worker-A"))).toBeNull();
        const orch = await fetchOrch(p, ctx.lockTimeoutMs);
        expect(orch.item.instance).toBe("inst-1");
        expect(orch.item.messages).toEqual([activityCompletedItem("inst-1", 1, "done")]);
      },
    },
    {
      name: "renewing a 1 s session lock at 0.6 s keeps other workers out past the original expiry; the owner still gets the item (test_session_lock_renewal_extends_past_original_timeout)",
      async run(ctx) {
        const p = await ctx.createProvider();
        const sessionLockMs = 1_000;
        await ownSession(p, "worker-A", "renew-ext-sess", { sessionLockMs });

        await sleep(600);
        expect(await p.renewSessionLock(["worker-A"], sessionLockMs, NEVER_IDLE_MS)).toBe(1);

        // Now past the original 1 s expiry, well before the renewed one.
        await sleep(500);
        await p.enqueueForWorker(sessionItem("inst-1", 2, "renew-ext-sess"));
        expect(await fetchAs(p, cfg("worker-B"))).toBeNull();

        const a = await claim(p, cfg("worker-A"));
        expect(a.act.id).toBe(2);
        expect(sessionOf(a.act)).toBe("renew-ext-sess");
      },
    },
  ],
};
