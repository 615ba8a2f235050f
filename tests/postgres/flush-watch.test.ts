// FlushWatch (src/providers/postgres/flush-watch.ts), with no server: a commit made before its flush
// is answered once a durable commit submitted after it succeeded, or the fallback's own flush did.
import { expect, test } from "bun:test";
import { FlushWatch } from "../../src/providers/postgres/flush-watch.ts";
import { state } from "./helpers.ts";

test("FlushWatch.durable: a durable commit submitted after the wait began covers it; one submitted before does not", async () => {
  let flushes = 0;
  const w = new FlushWatch(async () => void flushes++, 60_000);
  const before = performance.now();
  await Bun.sleep(1);
  const d = w.durable();
  w.covered(before); // submitted before: may have committed before our commit record
  expect(await state(d)).toBe("pending");
  w.covered(performance.now());
  expect(await state(d)).toBe("resolved");
  expect(flushes).toBe(0);
  expect(w.size).toBe(0);
});

test("FlushWatch.durable: with no durable commit within the fallback, one flush covers every waiter", async () => {
  let flushes = 0;
  const w = new FlushWatch(async () => void flushes++, 5);
  const all = Promise.all([w.durable(), w.durable()]);
  await all;
  expect(flushes).toBe(1);
});

test("FlushWatch.durable: a failed flush rejects the waiters it was for (whether their commit survived is unknown)", async () => {
  const w = new FlushWatch(async () => {
    throw new Error("connection lost");
  }, 5);
  const d = w.durable();
  await expect(d).rejects.toThrow("connection lost");
  expect(w.size).toBe(0);
});

test("FlushWatch.flushNow flushes at once and again for a waiter that came during the flush", async () => {
  let flushes = 0;
  let late: Promise<void> | undefined;
  const w = new FlushWatch(async () => {
    flushes++;
    if (flushes === 1) late = w.durable(); // a commit that returned while the first flush ran
    await Bun.sleep(1);
  }, 60_000);
  const first = w.durable();
  await w.flushNow();
  expect(await state(first)).toBe("resolved");
  expect(await state(late!)).toBe("resolved");
  expect(flushes).toBe(2);
});

// From a review: the failed flush rejected a waiter registered while it ran, which it never covered.
test("FlushWatch: a failed flush rejects only the waiters it was for; one that came while it ran gets a flush of its own", async () => {
  let calls = 0;
  let late: Promise<void> | undefined;
  const w = new FlushWatch(async () => {
    calls++;
    if (calls === 1) {
      late = w.durable(); // a commit that returned after this flush was submitted
      await Bun.sleep(1);
      throw new Error("connection lost");
    }
  }, 60_000);
  const first = w.durable();
  first.catch(() => {});
  await w.flushNow();
  await expect(first).rejects.toThrow("connection lost");
  expect(await state(late!)).toBe("resolved");
  expect(calls).toBe(2);
});
