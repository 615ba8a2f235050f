// SlowTurns (src/runtime/slow-turns.ts): a turn that may have outrun its lock is remembered, and only the
// same, unchanged batch delivered again is taken for it (the dispatcher then fails the instance
// instead of running the turn again).
import { expect, test } from "bun:test";
import type { FetchedOrchestration } from "../../src/core/queue-types.ts";
import { startItem, startedEvent } from "../../src/provider-tests/helpers.ts";
import { SlowTurns } from "../../src/runtime/slow-turns.ts";

function batch(instance: string, opts: { history?: number; executionId?: number } = {}): FetchedOrchestration {
  const history = Array.from({ length: opts.history ?? 0 }, () => startedEvent(instance));
  const messages = [startItem(instance)];
  return {
    item: { instance, orchestration_name: "O", execution_id: opts.executionId ?? 1, version: "1.0.0", history, messages, history_error: null, kv_snapshot: {} },
    lockToken: "t",
    attemptCount: 1,
  } as FetchedOrchestration;
}

test("SlowTurns.take: the same batch delivered again is the slow turn's, once", () => {
  const slow = new SlowTurns();
  const rec = slow.remember(batch("i"), 700);
  expect(slow.take(batch("i"))).toBe(rec);
  expect(slow.take(batch("i"))).toBeUndefined();
});

test("SlowTurns.take: a batch with more history or of another execution is another batch", () => {
  const slow = new SlowTurns();
  slow.remember(batch("more-history"), 700);
  expect(slow.take(batch("more-history", { history: 1 }))).toBeUndefined();
  slow.remember(batch("other-exec"), 700);
  expect(slow.take(batch("other-exec", { executionId: 2 }))).toBeUndefined();
});

test("SlowTurns.clear forgets a turn whose ack committed after all", () => {
  const slow = new SlowTurns();
  const rec = slow.remember(batch("c"), 700);
  slow.clear(rec);
  expect(slow.take(batch("c"))).toBeUndefined();
});

