// Crash recovery across processes (docs/runtime-semantics.md §8.3, §8.4, §8.6, §8.7 under a real
// process kill): a runtime in a child process is killed with SIGKILL mid-batch; a new runtime on
// the same SQLite file finishes every instance, and every history records each activity
// completion exactly once.
// File mode only: a process kill needs a store that outlives the process.
import { expect, test } from "bun:test";
import { join } from "node:path";
import { Client } from "../../src/client.ts";
import type { Event } from "../../src/core/events.ts";
import { CRASH_OPTIONS, crashRegistries, expectedOutput, hasTimer, instanceId } from "./fixtures/crash-worker.ts";
import { harness } from "./harness.ts";

const e2e = harness("sqlite-file");

const FIXTURE = join(import.meta.dir, "fixtures", "crash-worker.ts");
const N = 30;

/** Reads the child's stdout line by line until `enough` holds; rejects on exit or deadline. */
async function watchUntil(
  proc: ReturnType<typeof Bun.spawn>,
  onLine: (line: string) => void,
  enough: () => boolean,
  timeoutMs: number,
): Promise<void> {
  const reader = (proc.stdout as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  let buffered = "";
  const deadline = Date.now() + timeoutMs;
  try {
    while (!enough()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`the child did not reach the kill point within ${timeoutMs} ms`);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const chunk = await Promise.race([
        reader.read(),
        new Promise<"timeout">((r) => (timer = setTimeout(() => r("timeout"), left))),
      ]).finally(() => clearTimeout(timer));
      if (chunk === "timeout") continue;
      if (chunk.done) throw new Error(`the child exited before the kill point (exit code ${await proc.exited})`);
      buffered += decoder.decode(chunk.value, { stream: true });
      let nl: number;
      while ((nl = buffered.indexOf("\n")) >= 0) {
        onLine(buffered.slice(0, nl));
        buffered = buffered.slice(nl + 1);
      }
    }
  } finally {
    reader.releaseLock();
  }
}

test(
  "a runtime killed with SIGKILL mid-batch: a new runtime on the same file completes every instance with each activity completed once",
  async () => {
    const path = e2e.file("crash.db");
    const proc = Bun.spawn([process.execPath, FIXTURE, path, String(N)], { stdout: "pipe", stderr: "pipe", cwd: join(import.meta.dir, "..", "..") });
    try {
      // 1. Let the child get well into the batch: all instances started, some done, activities running.
      let started = false;
      const inFlight = new Set<string>();
      const done = new Set<string>();
      let childActivityRuns = 0;
      await watchUntil(
        proc,
        (line) => {
          const [kind, a, b] = line.split(" ");
          if (kind === "started") started = true;
          else if (kind === "act-start") {
            childActivityRuns++;
            inFlight.add(`${a} ${b}`);
          } else if (kind === "act-done") inFlight.delete(`${a} ${b}`);
          else if (kind === "done" && b === "Completed") done.add(a!);
        },
        () => started && done.size >= 3 && inFlight.size >= 1,
        15_000,
      ).catch(async (err) => {
        proc.kill(9);
        const stderr = await new Response(proc.stderr as ReadableStream).text();
        throw new Error(`${(err as Error).message}\nchild stderr:\n${stderr}`);
      });
      expect(done.size).toBeLessThan(N);

      // 2. Kill it hard: no shutdown, locks left held, activities mid-flight.
      proc.kill(9);
      expect(await proc.exited).not.toBe(0);
      expect(proc.signalCode).toBe("SIGKILL");

      // 3. A new runtime on the same file, same handlers, short leases.
      const store = await e2e.openStore(path);
      const client = new Client(store.provider);
      const ids = Array.from({ length: N }, (_, i) => instanceId(i));
      const before = await Promise.all(ids.map((id) => client.getOrchestrationStatus(id)));
      const unfinished = before.filter((s) => s.status !== "Completed").length;
      expect(unfinished).toBeGreaterThan(0); // there is something left to recover
      expect(before.filter((s) => s.status === "Failed")).toEqual([]);

      let recoveryActivityRuns = 0;
      const registries = crashRegistries((line) => {
        if (line.startsWith("act-start")) recoveryActivityRuns++;
      });
      await e2e.start(registries, { ...CRASH_OPTIONS, orchestrationConcurrency: 4 }, store);
      const statuses = await Promise.all(ids.map((id) => client.waitForOrchestration(id, { timeoutMs: 20_000 })));

      // 4. Every instance completed with the deterministic output.
      statuses.forEach((s, i) => expect(s).toEqual(expect.objectContaining({ status: "Completed", output: expectedOutput(i) })));
      expect(recoveryActivityRuns).toBeGreaterThan(0);
      // At-least-once execution: the activities the kill interrupted ran again in the new runtime, so
      // together the two processes ran more activities than the 4·N the histories record.
      expect(childActivityRuns + recoveryActivityRuns).toBeGreaterThan(N * 4);

      // 5. Exactly-once recording: one completion per scheduled activity, ids contiguous, one terminal.
      for (let i = 0; i < N; i++) {
        const id = instanceId(i);
        expect(await client.listExecutions(id)).toEqual([1]);
        const h: Event[] = await client.readExecutionHistory(id);
        const problem = historyProblem(h, hasTimer(i) ? 1 : 0);
        expect(problem === null ? null : `${id}: ${problem}\n${h.map((e) => `${e.event_id} ${e.type} ${e.source_event_id ?? ""}`).join("\n")}`).toBeNull();
      }
      // Nothing is left queued once everything is complete.
      const depths = await client.getQueueDepths();
      expect(depths.worker_queue).toBe(0);
    } finally {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(9);
    }
  },
  30_000,
);

/** Null when the history is one clean execution of CrashFlow; otherwise what is wrong with it. */
function historyProblem(h: Event[], timers: number): string | null {
  const ids = h.map((e) => e.event_id);
  if (ids.some((id, k) => id !== k + 1)) return `event ids are not 1..${h.length}`;
  const count = (t: Event["type"]) => h.filter((e) => e.type === t).length;
  if (h[0]?.type !== "OrchestrationStarted" || count("OrchestrationStarted") !== 1) return "expected one OrchestrationStarted first";
  if (h.at(-1)?.type !== "OrchestrationCompleted" || count("OrchestrationCompleted") !== 1) return "expected one OrchestrationCompleted last";
  if (count("ActivityFailed") !== 0 || count("OrchestrationFailed") !== 0) return "unexpected failure events";
  const scheduled = h.filter((e) => e.type === "ActivityScheduled");
  const completed = h.filter((e) => e.type === "ActivityCompleted");
  if (scheduled.length !== 4) return `expected 4 ActivityScheduled, got ${scheduled.length}`;
  if (completed.length !== scheduled.length) return `${scheduled.length} ActivityScheduled but ${completed.length} ActivityCompleted`;
  const sources = completed.map((e) => e.source_event_id);
  if (new Set(sources).size !== sources.length) return `duplicate ActivityCompleted for source ${sources.find((s, k) => sources.indexOf(s) !== k)}`;
  const scheduledIds = new Set(scheduled.map((e) => e.event_id));
  if (!sources.every((s) => s !== null && scheduledIds.has(s))) return "an ActivityCompleted points at no ActivityScheduled";
  if (count("TimerCreated") !== timers || count("TimerFired") !== timers) return `expected ${timers} TimerCreated and TimerFired`;
  return null;
}
