/**
 * One runtime of a crash loop (src/stress/crash-loop.ts, docs/stress-tests.md §8): started by the
 * supervisor with a JSON spec as its only argument, it opens the store, runs a Runtime with the
 * mixed workload's handlers and prints `ready` once dispatching. It is meant to be killed with
 * SIGKILL at any moment. Every activity execution is appended to the spec's runs file with a
 * synchronous write before the activity does its work, so the count survives the kill.
 */
import { appendFileSync } from "node:fs";
import { Runtime } from "../runtime/runtime.ts";
import type { RuntimeOptions } from "../runtime/options.ts";
import { createMixedActivities, createMixedOrchestrations, type MixedOptions } from "./scenario-mixed.ts";
import { openStore, type StoreDescriptor } from "./stores.ts";

export interface CrashLoopChildSpec {
  store: StoreDescriptor;
  /** File every activity execution is appended to ("<instance> <k>" per line). */
  runsFile: string;
  activityDelayMs: number;
  timerMs: number;
  runtimeOptions: RuntimeOptions;
}

/** The workload's handler options, recording each activity execution in `runsFile`. */
export function crashLoopHandlers(spec: Pick<CrashLoopChildSpec, "runsFile" | "activityDelayMs" | "timerMs">): MixedOptions {
  return {
    activityDelayMs: spec.activityDelayMs,
    timerMs: spec.timerMs,
    onActivity: (instanceId, input) => appendFileSync(spec.runsFile, `${instanceId} ${input.k}\n`),
  };
}

if (import.meta.main) {
  const raw = process.argv[2];
  let spec: CrashLoopChildSpec;
  try {
    spec = JSON.parse(raw ?? "") as CrashLoopChildSpec;
  } catch {
    process.stderr.write("crash-loop-child.ts is started by scripts/crash_loop.ts with a JSON spec argument, not by hand\n");
    process.exit(2);
  }
  const provider = await openStore(spec.store);
  const handlers = crashLoopHandlers(spec);
  await Runtime.start(provider, createMixedActivities(handlers), createMixedOrchestrations(handlers), spec.runtimeOptions);
  process.stdout.write("ready\n");
  // The runtime keeps the process alive until the supervisor kills it.
}
