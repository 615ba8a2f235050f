#!/usr/bin/env bun
/**
 * Replay engine micro-benchmark (mitata): one turn over a 1,000-event history, pure CPU, no I/O.
 *
 *   replay-1000-sequential  500 activities awaited one after another (Started + 500 x (scheduled,
 *                           completed) = 1,001 events), replayed with one new completion
 *   replay-1000-fanout      one ctx.all over 499 activities, all completed (999 events)
 *
 *   bun run scripts/bench_replay.ts [--json]
 *
 * Target: a 1,000-event replay in <= 2 ms (p50).
 */
import os from "node:os";
import { bench, run } from "mitata";
import type { Event } from "../src/core/events.ts";
import type { WorkItem } from "../src/core/work-items.ts";
import { runTurn, type TurnInput } from "../src/runtime/replay-engine.ts";
import type { OrchestrationHandler } from "../src/runtime/handler-types.ts";

const json = process.argv.includes("--json");
if (process.argv.includes("--help")) {
  console.log("Usage: bun run scripts/bench_replay.ts [--json]\nReplays 1,000-event histories with the pure replay engine (mitata, p50).");
  process.exit(0);
}

const sequential: OrchestrationHandler = function* (ctx, n: number) {
  let sum = 0;
  for (let i = 0; i < n; i++) sum += (yield* ctx.scheduleActivity<number>("Work", i)) as number;
  return sum;
};
const fanout: OrchestrationHandler = function* (ctx, n: number) {
  const rs = yield* ctx.all(Array.from({ length: n }, (_, i) => ctx.scheduleActivity<number>("Work", i)));
  return rs.length;
};

/** Drives `handler` turn by turn (one completion per turn) to build a realistic persisted history. */
function buildHistory(handler: OrchestrationHandler, n: number, completions: number): Event[] {
  const base = { instance: "bench", executionId: 1, handler, kvSnapshot: {}, runtimeVersion: "0.1.0" };
  const started: Event = {
    event_id: 1, source_event_id: null, instance_id: "bench", execution_id: 1, timestamp_ms: 0, duroxide_version: "0.1.0",
    type: "OrchestrationStarted", name: "Bench", version: "1.0.0", input: String(n), parent_instance: null, parent_id: null,
  };
  let history: Event[] = [];
  let out = runTurn({ ...base, history, started, messages: [], now: 0 });
  history = [...out.delta];
  const pending = out.workerItems.slice();
  for (let c = 0; c < completions; c++) {
    const w = pending.shift();
    if (w === undefined || w.type !== "ActivityExecute") break;
    const done: WorkItem = { type: "ActivityCompleted", instance: "bench", execution_id: 1, id: w.id, result: JSON.stringify(1) };
    out = runTurn({ ...base, history, messages: [done], now: c });
    history = [...history, ...out.delta];
    pending.push(...out.workerItems);
  }
  return history;
}

function lastCompletionInput(handler: OrchestrationHandler, history: Event[]): TurnInput {
  const open = history.filter((e) => e.type === "ActivityScheduled").map((e) => e.event_id);
  const done = new Set(history.filter((e) => e.type === "ActivityCompleted").map((e) => e.source_event_id));
  const next = open.find((id) => !done.has(id))!;
  return {
    instance: "bench", executionId: 1, handler, kvSnapshot: {}, runtimeVersion: "0.1.0", now: 1, history,
    messages: [{ type: "ActivityCompleted", instance: "bench", execution_id: 1, id: next, result: "1" }],
  };
}

const seqHistory = buildHistory(sequential, 501, 499); // 1 + 2*499 + 1 scheduled = 1,000 events
const seqInput = lastCompletionInput(sequential, seqHistory);
const fanHistory = buildHistory(fanout, 500, 499); // 1 + 500 scheduled + 499 completed = 1,000 events
const fanInput = lastCompletionInput(fanout, fanHistory);
for (const [name, input] of [["sequential", seqInput], ["fanout", fanInput]] as const) {
  const out = runTurn(input);
  if (out.outcome.type !== "Completed" && out.outcome.type !== "Continue") throw new Error(`${name}: unexpected ${JSON.stringify(out.outcome)}`);
}

if (!json) {
  console.log(`bun ${Bun.version} (${Bun.revision.slice(0, 8)}), ${os.cpus()[0]?.model ?? "?"}, ${os.cpus().length} cores`);
  console.log(`histories: sequential ${seqInput.history.length} events, fan-out ${fanInput.history.length} events; one new completion per turn\n`);
}
bench("replay-1000-sequential", () => runTurn(seqInput));
bench("replay-1000-fanout", () => runTurn(fanInput));
const result = await run({ throw: true, format: json ? "quiet" : "mitata", colors: process.stdout.isTTY === true });
for (const b of result.benchmarks) {
  const stats = b.runs[0]?.stats;
  if (!stats) continue;
  const row = { benchmark: b.alias, events: b.alias.includes("sequential") ? seqInput.history.length : fanInput.history.length, p50_ms: stats.p50 / 1e6, avg_ms: stats.avg / 1e6, p99_ms: stats.p99 / 1e6, target_ms: 2 };
  if (json) console.log(JSON.stringify(row));
  else console.log(`${row.benchmark}: p50 ${row.p50_ms.toFixed(3)} ms (avg ${row.avg_ms.toFixed(3)}, p99 ${row.p99_ms.toFixed(3)}; target <= 2 ms)`);
}
