/**
 * One runtime process of a stress run (spawned by `startRuntimeProcesses`, runtime-processes.ts,
 * which describes the protocol; docs/stress-tests.md §6). Not a command of its own: it waits for
 * the parent's `start` message over Bun IPC, opens the store, starts a Runtime with the scenario's
 * registries, reports `ready`, forwards the ids of instances that ended, answers `snapshot`
 * requests, and on `stop` (or SIGTERM, SIGINT, or the parent going away) shuts down gracefully and
 * exits 0. A failure to start prints the reason on stderr and exits 1.
 */
import type { Provider } from "../provider.ts";
import { instanceSignals } from "../instance-signals.ts";
import type { ActivityRegistry, OrchestrationRegistry } from "../runtime/registry.ts";
import { Runtime } from "../runtime/runtime.ts";
import type { ChildMessage, ParentMessage, RuntimeProcessSpec } from "./runtime-processes.ts";
import { createLargePayloadActivities, createLargePayloadOrchestrations } from "./scenario-large-payload.ts";
import { createDefaultActivities, createDefaultOrchestrations, type ActivityCounter } from "./scenario-parallel.ts";
import { closeStore, openStore } from "./stores.ts";
import { chaosRuntimeOptions, withChaos } from "./chaos.ts";

if (typeof process.send !== "function") {
  process.stderr.write("runtime-process-entry.ts is started by startRuntimeProcesses (src/stress/runtime-processes.ts) over IPC, not by hand\n");
  process.exit(2);
}

const send = (m: ChildMessage) => {
  try {
    process.send!(m);
  } catch {
    // the parent is gone: the disconnect handler stops us
  }
};

const counter: ActivityCounter = { count: 0 };
let provider: Provider | null = null;
let runtime: Runtime | null = null;
let started: Promise<void> | null = null;
let stopping: Promise<void> | null = null;

function registries(spec: RuntimeProcessSpec): { activities: ActivityRegistry; orchestrations: OrchestrationRegistry } {
  const s = spec.scenario;
  return s.kind === "parallel"
    ? { activities: createDefaultActivities(s.activityDelayMs, counter), orchestrations: createDefaultOrchestrations() }
    : { activities: createLargePayloadActivities(s.config, counter), orchestrations: createLargePayloadOrchestrations(s.config) };
}

async function start(spec: RuntimeProcessSpec): Promise<void> {
  provider = await openStore(spec.store);
  // Instances whose committed turn ended them: batched per microtask and sent to the parent, whose
  // clients' waits wake on them (an in-process runtime does the same through the signal hub).
  const hub = instanceSignals(provider);
  const notify = hub.notify.bind(hub);
  let batch: string[] = [];
  hub.notify = (instanceId: string, terminal = true) => {
    notify(instanceId, terminal);
    if (!terminal) return;
    if (batch.length === 0) {
      queueMicrotask(() => {
        const ids = batch;
        batch = [];
        send({ t: "done", ids });
      });
    }
    batch.push(instanceId);
  };
  const { activities, orchestrations } = registries(spec);
  // With chaos the runtime meets faults; the hub above is shared with the wrapper, so reports still flow.
  const runtimeProvider = spec.chaos === undefined ? provider : withChaos(provider, spec.chaos, spec.index);
  runtime = await Runtime.start(runtimeProvider, activities, orchestrations, {
    orchestrationConcurrency: spec.orchConcurrency,
    workerConcurrency: spec.workerConcurrency,
    logLevel: "warn",
    ...(spec.chaos === undefined ? {} : chaosRuntimeOptions(spec.chaos)),
  });
  send({ t: "ready", pid: process.pid });
}

/** Graceful stop: the runtime (1 s for in-flight work, as the in-process runner), then the store. Exits 0. */
function stop(): Promise<void> {
  stopping ??= (async () => {
    // A stop that arrives while starting waits for the start, so nothing is left half-open.
    await started?.catch(() => {});
    await runtime?.shutdown(1_000);
    if (provider !== null) await closeStore(provider);
    send({ t: "stopped", activities: counter.count });
    process.disconnect?.();
    // Nothing should keep the loop alive now; if something does (a driver's socket), do not hang.
    setTimeout(() => process.exit(0), 5_000).unref();
  })().catch((err: unknown) => {
    process.stderr.write(`shutdown failed: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  });
  return stopping;
}

process.on("message", (raw: unknown) => {
  const m = raw as ParentMessage;
  switch (m.t) {
    case "start":
      if (started !== null || stopping !== null) return;
      started = start(m.spec).catch((err: unknown) => {
        process.stderr.write(`runtime process ${m.spec.index} of ${m.spec.count} failed to start: ${(err as Error).stack ?? String(err)}\n`);
        process.exit(1);
      });
      break;
    case "snapshot": {
      const usage = process.resourceUsage();
      const cpu = process.cpuUsage();
      send({ t: "snapshot", seq: m.seq, activities: counter.count, peakRssMb: usage.maxRSS / 1024, cpuMs: (cpu.user + cpu.system) / 1000 });
      break;
    }
    case "stop":
      void stop();
      break;
  }
});
process.on("disconnect", () => void stop());
for (const sig of ["SIGTERM", "SIGINT"] as const) process.on(sig, () => void stop());
