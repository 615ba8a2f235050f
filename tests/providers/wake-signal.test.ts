// WakeSignal's two ways to wake ("all", "one" per group, passOn, wakeAll, until) and
// ParkedFetches' reservations: the in-process wake-ups behind the providers' long polls.
import { describe, expect, test } from "bun:test";
import { WakeSignal } from "../../src/providers/wake-signal.ts";
import { ParkedFetches } from "../../src/providers/postgres/parked-fetches.ts";

/** Starts a wait and records when (and whether) it ended. */
function waiter(signal: WakeSignal, group?: string, until?: Promise<unknown>, ms = 60_000) {
  const w = { woken: false, done: null as Promise<void> | null };
  w.done = signal.wait(ms, null, group, until).then(() => {
    w.woken = true;
  });
  return w;
}

/** Lets the signal's setImmediate wake-ups and their promise continuations run. */
const settle = () => new Promise((r) => setTimeout(r, 5));

describe("WakeSignal", () => {
  test('"all" (the default): one notify wakes every waiter of every group, and counts a generation', async () => {
    const s = new WakeSignal();
    const ws = [waiter(s), waiter(s), waiter(s, "b")];
    const g = s.generation;
    s.notify();
    expect(s.generation).toBe(g + 1);
    await settle();
    expect(ws.map((w) => w.woken)).toEqual([true, true, true]);
  });

  test('"one": a notify wakes the longest-waiting waiter of each group only', async () => {
    const s = new WakeSignal("one");
    const a1 = waiter(s, "a");
    const a2 = waiter(s, "a");
    const b1 = waiter(s, "b");
    s.notify();
    await settle();
    expect([a1.woken, a2.woken, b1.woken]).toEqual([true, false, true]);
    s.notify();
    await settle();
    expect(a2.woken).toBe(true);
  });

  test('"one": notifies in one tick coalesce into one wake per group; passOn wakes the next of a group', async () => {
    const s = new WakeSignal("one");
    const a = [waiter(s, "a"), waiter(s, "a"), waiter(s, "a")];
    s.notify();
    s.notify();
    await settle();
    expect(a.map((w) => w.woken)).toEqual([true, false, false]);
    s.passOn("a");
    await settle();
    expect(a.map((w) => w.woken)).toEqual([true, true, false]);
    s.passOn("nobody-waits-here"); // no-op
    await settle();
    expect(a[2]!.woken).toBe(false);
  });

  test("wakeAll wakes every waiter of every group at once, in either mode (a provider closing)", () => {
    const s = new WakeSignal("one");
    const ws = [waiter(s, "a"), waiter(s, "a"), waiter(s, "b")];
    s.wakeAll();
    // Synchronously: close() must not leave a fetch waiting for a later macrotask.
    return Promise.all(ws.map((w) => w.done)).then(() => expect(ws.map((w) => w.woken)).toEqual([true, true, true]));
  });

  test("`until` ends a wait and takes the waiter out, so a later notify wakes the next one, not it", async () => {
    const s = new WakeSignal("one");
    let reserve!: () => void;
    const reserved = new Promise<void>((r) => (reserve = r));
    const first = waiter(s, "a", reserved);
    const second = waiter(s, "a");
    reserve();
    await settle();
    expect(first.woken).toBe(true);
    expect(second.woken).toBe(false);
    s.notify();
    await settle();
    expect(second.woken).toBe(true);
  });

  test("a wait ends at its timeout, and an aborted signal ends it at once", async () => {
    const s = new WakeSignal("one");
    const t0 = performance.now();
    await s.wait(20, null, "a");
    expect(performance.now() - t0).toBeGreaterThanOrEqual(15);
    const ac = new AbortController();
    const w = s.wait(60_000, ac.signal, "a");
    ac.abort();
    await w; // resolves; never hangs
  });
});

describe("ParkedFetches", () => {
  test("reserve takes the longest-parked fetches of the first one's group, up to max, and only once", () => {
    const p = new ParkedFetches<string>();
    const a1 = p.park("a", [1]);
    const b1 = p.park("b", [2]);
    const a2 = p.park("a", [3]);
    const a3 = p.park("a", [4]);
    expect(p.reserve(0)).toEqual([]);
    expect(p.reserve(2)).toEqual([a1, a2]);
    expect([a1.reserved, a2.reserved, a3.reserved, b1.reserved]).toEqual([true, true, false, false]);
    expect(p.size).toBe(2);
    // b1 is now the longest parked: its group goes next.
    expect(p.reserve(5)).toEqual([b1]);
    p.leave(a3);
    expect(p.reserve(5)).toEqual([]);
  });

  test("a reserved fetch learns it at once and then gets exactly one hand-off (the first settle)", async () => {
    const p = new ParkedFetches<string>();
    const f = p.park("a", []);
    let reservedSeen = false;
    void f.reservation.then(() => (reservedSeen = true));
    p.reserve(1);
    await Promise.resolve();
    expect(reservedSeen).toBe(true);
    f.settle("claim-1");
    f.settle("claim-2");
    expect(await f.handOff).toBe("claim-1");
  });
});
