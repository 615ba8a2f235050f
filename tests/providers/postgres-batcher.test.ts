// Batcher (src/providers/postgres/batcher.ts), the group commit of the PostgreSQL provider, with a
// send() that the test controls: each call is recorded with its inputs and stays pending until the
// test settles it, so "what arrived while a batch was in flight" is decided by the test, not by
// timing. No database, no sleeps.
import { describe, expect, test } from "bun:test";
import { Batcher, type Outcome } from "../../src/providers/postgres/batcher.ts";

interface Call<I, R> {
  inputs: I[];
  /** Answers the call with these outcomes. */
  answer(outcomes: Outcome<R>[]): void;
  /** Fails the whole call. */
  fail(error: unknown): void;
}

/** A send() whose calls wait for the test; `calls` is every call so far, `inFlight` those unanswered. */
function controlledSend<I, R>() {
  const calls: Call<I, R>[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const waiters: { n: number; wake: () => void }[] = [];
  const send = (inputs: I[]): Promise<Outcome<R>[]> =>
    new Promise<Outcome<R>[]>((resolve, reject) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      const settle = () => inFlight--;
      calls.push({
        inputs: [...inputs],
        answer: (o) => (settle(), resolve(o)),
        fail: (e) => (settle(), reject(e)),
      });
      for (const w of waiters.splice(0)) if (calls.length >= w.n) w.wake();
      else waiters.push(w);
    });
  return {
    send,
    calls,
    get inFlight() {
      return inFlight;
    },
    get maxInFlight() {
      return maxInFlight;
    },
    /** The n-th call (1-based), once send() has been called n times. */
    async call(n: number): Promise<Call<I, R>> {
      if (calls.length < n) await new Promise<void>((wake) => waiters.push({ n, wake }));
      return calls[n - 1]!;
    },
    sizes: () => calls.map((c) => c.inputs.length),
  };
}

const ok = <R>(value: R): Outcome<R> => ({ ok: true, value });
const err = (error: unknown): Outcome<never> => ({ ok: false, error });
/** Answers every input with `f(input)`. */
const each = <I, R>(c: Call<I, R>, f: (i: I) => R) => c.answer(c.inputs.map((i) => ok(f(i))));

/** Lets every pending microtask and one macrotask turn run (a yield, not a timed sleep). */
const settle = () => new Promise<void>((r) => setImmediate(r));

/** Tracks whether a promise has settled yet, without awaiting it. */
function track<T>(p: Promise<T>) {
  const t = { done: false, value: undefined as T | undefined, error: undefined as unknown, failed: false };
  p.then(
    (v) => Object.assign(t, { done: true, value: v }),
    (e) => Object.assign(t, { done: true, failed: true, error: e }),
  );
  return t;
}

describe("Batcher", () => {
  test("a lone request goes after the current microtask, in a batch of its own, and gets its value", async () => {
    const s = controlledSend<string, string>();
    const b = new Batcher(s.send, 10);
    const p = b.submit("a");
    expect(s.calls.length).toBe(0); // not synchronously: same-tick requests may still join
    const c = await s.call(1);
    expect(c.inputs).toEqual(["a"]);
    each(c, (i) => i.toUpperCase());
    expect(await p).toBe("A");
    expect(s.sizes()).toEqual([1]);
  });

  test("requests of the same tick share one batch, in submission order, each with its own value", async () => {
    const s = controlledSend<number, number>();
    const b = new Batcher(s.send, 10);
    const ps = [1, 2, 3, 4].map((n) => b.submit(n));
    const c = await s.call(1);
    expect(c.inputs).toEqual([1, 2, 3, 4]);
    each(c, (n) => n * 10);
    expect(await Promise.all(ps)).toEqual([10, 20, 30, 40]);
    expect(s.sizes()).toEqual([4]);
  });

  test("requests made while a batch is in flight wait, then go together in the next send", async () => {
    const s = controlledSend<string, string>();
    const b = new Batcher(s.send, 10);
    const first = track(b.submit("a"));
    const c1 = await s.call(1);
    expect(c1.inputs).toEqual(["a"]);
    // Three requests in three different turns of the event loop, all while "a" is in flight.
    const later = [track(b.submit("b"))];
    await settle();
    later.push(track(b.submit("c")));
    await settle();
    later.push(track(b.submit("d")));
    await settle();
    expect(s.calls.length).toBe(1); // nothing is sent while the batch is in flight
    expect(first.done).toBe(false); // and nothing resolves before its send answers
    expect(later.some((t) => t.done)).toBe(false);
    each(c1, (i) => `${i}!`);
    const c2 = await s.call(2);
    expect(c2.inputs).toEqual(["b", "c", "d"]);
    expect(first.value).toBe("a!");
    expect(later.some((t) => t.done)).toBe(false);
    each(c2, (i) => `${i}?`);
    await settle();
    expect(later.map((t) => t.value)).toEqual(["b?", "c?", "d?"]);
    expect(s.sizes()).toEqual([1, 3]);
    expect(s.maxInFlight).toBe(1);
  });

  test("outcomes are per request: one error rejects only its own request, the others resolve", async () => {
    const s = controlledSend<string, string>();
    const b = new Batcher(s.send, 10);
    const boom = new Error("lock lost for b");
    const ps = ["a", "b", "c"].map((i) => b.submit(i).then((v) => ({ v }), (e: unknown) => ({ e })));
    (await s.call(1)).answer([ok("A"), err(boom), ok("C")]);
    const r = await Promise.all(ps);
    expect(r[0]).toEqual({ v: "A" });
    expect((r[1] as { e: unknown }).e).toBe(boom); // the very error send reported
    expect(r[2]).toEqual({ v: "C" });
  });

  test("a send that rejects rejects every request of its batch with that error; the next batch still runs", async () => {
    const s = controlledSend<string, string>();
    const b = new Batcher(s.send, 10);
    const down = new Error("connection lost");
    const firstBatch = ["a", "b"].map((i) => b.submit(i).then(() => null, (e: unknown) => e));
    const c1 = await s.call(1);
    const secondBatch = ["c", "d"].map((i) => b.submit(i)); // queued while the first is in flight
    c1.fail(down);
    expect(await Promise.all(firstBatch)).toEqual([down, down]);
    const c2 = await s.call(2);
    expect(c2.inputs).toEqual(["c", "d"]);
    each(c2, (i) => i);
    expect(await Promise.all(secondBatch)).toEqual(["c", "d"]);
    // And a request after everything settled starts a batch of its own.
    const e = b.submit("e");
    each(await s.call(3), (i) => i);
    expect(await e).toBe("e");
    expect(s.sizes()).toEqual([2, 2, 1]);
  });

  test("a send that throws synchronously is a failed batch too, not an escaped exception", async () => {
    let calls = 0;
    const down = new Error("sync failure");
    const b = new Batcher<string, string>((inputs) => {
      calls++;
      if (calls === 1) throw down;
      return Promise.resolve(inputs.map((i) => ok(i)));
    }, 10);
    const failed = await Promise.all(["a", "b"].map((i) => b.submit(i).then(() => null, (e: unknown) => e)));
    expect(failed).toEqual([down, down]);
    expect(await b.submit("c")).toBe("c");
    expect(calls).toBe(2);
  });

  test("a send that answers fewer outcomes than inputs rejects the unanswered requests, never leaves them pending", async () => {
    const s = controlledSend<string, string>();
    const b = new Batcher(s.send, 10);
    const ps = ["a", "b", "c"].map((i) => b.submit(i).then((v) => ({ v }), (e: unknown) => ({ e })));
    (await s.call(1)).answer([ok("A")]);
    const r = await Promise.all(ps);
    expect(r[0]).toEqual({ v: "A" });
    expect((r[1] as { e: unknown }).e).toBeInstanceOf(Error);
    expect((r[2] as { e: unknown }).e).toBeInstanceOf(Error);
  });

  test("maxBatch splits: at most maxBatch inputs per send, the rest in later sends, in order", async () => {
    const s = controlledSend<number, number>();
    const b = new Batcher(s.send, 2);
    const ps = [1, 2, 3, 4, 5].map((n) => b.submit(n));
    const c1 = await s.call(1);
    expect(c1.inputs).toEqual([1, 2]);
    await settle();
    expect(s.calls.length).toBe(1); // maxInFlight 1: the rest wait for the first batch
    each(c1, (n) => -n);
    const c2 = await s.call(2);
    expect(c2.inputs).toEqual([3, 4]);
    each(c2, (n) => -n);
    const c3 = await s.call(3);
    expect(c3.inputs).toEqual([5]);
    each(c3, (n) => -n);
    expect(await Promise.all(ps)).toEqual([-1, -2, -3, -4, -5]);
    expect(s.sizes()).toEqual([2, 2, 1]);
  });

  test("maxInFlight: that many sends run at once and no more; a finished one lets the next batch go", async () => {
    const s = controlledSend<number, number>();
    const b = new Batcher(s.send, 2, 2);
    const ps = [1, 2, 3, 4, 5, 6, 7].map((n) => b.submit(n));
    const c1 = await s.call(1);
    const c2 = await s.call(2);
    expect([c1.inputs, c2.inputs]).toEqual([[1, 2], [3, 4]]);
    await settle();
    expect(s.calls.length).toBe(2);
    expect(s.inFlight).toBe(2);
    // The second finishes first: one slot frees, one more batch goes.
    each(c2, (n) => n);
    const c3 = await s.call(3);
    expect(c3.inputs).toEqual([5, 6]);
    await settle();
    expect(s.calls.length).toBe(3);
    expect(s.inFlight).toBe(2);
    const late = b.submit(8); // arrives while both slots are busy: joins the queue behind 7
    each(c1, (n) => n);
    const c4 = await s.call(4);
    expect(c4.inputs).toEqual([7, 8]);
    each(c3, (n) => n);
    each(c4, (n) => n);
    expect(await Promise.all([...ps, late])).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(s.maxInFlight).toBe(2);
    expect(s.sizes()).toEqual([2, 2, 2, 2]);
  });

  test("maxInFlight 1 under a stream of requests: never two sends at once, every request answered once", async () => {
    const s = controlledSend<number, number>();
    const b = new Batcher(s.send, 4);
    const answered = new Map<number, number>();
    const ps: Promise<void>[] = [];
    let next = 0;
    // Each round submits a few requests, then answers the oldest unanswered call.
    for (let round = 0; round < 6; round++) {
      for (let k = 0; k < 3; k++) {
        const n = next++;
        ps.push(b.submit(n).then((v) => void answered.set(n, (answered.get(n) ?? 0) + v)));
      }
      each(await s.call(round + 1), () => 1);
    }
    for (let n = 7; s.calls.flatMap((c) => c.inputs).length < next; n++) each(await s.call(n), () => 1);
    await Promise.all(ps);
    expect(s.maxInFlight).toBe(1);
    expect(s.sizes().every((n) => n >= 1 && n <= 4)).toBe(true);
    expect(s.calls.flatMap((c) => c.inputs)).toEqual(Array.from({ length: next }, (_, i) => i)); // each input sent once, in order
    expect([...answered.values()].every((v) => v === 1)).toBe(true);
    expect(answered.size).toBe(next);
  });
});
