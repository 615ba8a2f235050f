/**
 * Runtime processes for a stress run (docs/stress-tests.md §6): `startRuntimeProcesses` spawns N
 * Bun processes (`runtime-process-entry.ts`), each running one `Runtime` with the run's
 * orchestration and worker slots on the same store (a SQLite file or a PostgreSQL schema). The
 * calling process keeps the pump, the measurement and the table: it passes the handle to
 * `measureStressTest` as `externalRuntimes`, which then starts no runtime of its own.
 *
 * Protocol (Bun IPC, JSON messages). Parent -> child: `start` (store, scenario, slots), then
 * `snapshot` requests, then `stop`. Child -> parent: `ready` once its runtime runs, `done` with the
 * ids of instances whose committed turn ended them (the parent wakes its clients' waits with them,
 * as an in-process runtime does through its signal hub; the status is still read from the store),
 * `snapshot` replies (activities counted, peak RSS, CPU time) and `stopped`. A child also stops on
 * SIGTERM, SIGINT or when the parent goes away (IPC disconnect), and exits 0 after a graceful
 * shutdown.
 *
 * A child that exits before it is told to stop aborts `failure` with an Error naming the child,
 * its exit code or signal and the tail of its output; readiness, snapshots and stop are bounded by
 * timeouts, so a stuck child fails the run instead of hanging it.
 */
import { join } from "node:path";
import type { Subprocess } from "bun";
import { instanceSignals } from "../instance-signals.ts";
import type { Provider } from "../provider.ts";
import { validateChaos, type ChaosConfig } from "./chaos.ts";
import type { LargePayloadConfig } from "./scenario-large-payload.ts";
import type { ExternalRuntimeSnapshot, ExternalRuntimes } from "./scenario-parallel.ts";
import type { StoreDescriptor } from "./stores.ts";

/** Upper bound of `count` (and of the CLI's --processes). */
export const MAX_RUNTIME_PROCESSES = 16;

/** Which registries the runtime processes load. */
export type ScenarioDescriptor =
  | { kind: "parallel"; activityDelayMs: number }
  | { kind: "large-payload"; config: LargePayloadConfig };

/** What a runtime process is told to run (the `start` message). */
export interface RuntimeProcessSpec {
  index: number;
  count: number;
  store: StoreDescriptor;
  scenario: ScenarioDescriptor;
  orchConcurrency: number;
  workerConcurrency: number;
  /** Faults injected into the runtime's provider calls (`--chaos`); absent: none. */
  chaos?: ChaosConfig;
}

export type ParentMessage = { t: "start"; spec: RuntimeProcessSpec } | { t: "snapshot"; seq: number } | { t: "stop" };
export type ChildMessage =
  | { t: "ready"; pid: number }
  | { t: "done"; ids: string[] }
  | { t: "snapshot"; seq: number; activities: number; peakRssMb: number; cpuMs: number }
  | { t: "stopped"; activities: number };

export interface RuntimeProcessesOptions {
  /** How many processes, 1 to MAX_RUNTIME_PROCESSES. */
  count: number;
  /** The store every process opens; the caller has created it (opened it once) already. */
  store: StoreDescriptor;
  scenario: ScenarioDescriptor;
  orchConcurrency: number;
  workerConcurrency: number;
  /** Faults injected into each child runtime's provider calls (src/stress/chaos.ts); each child gets its own seed from this one. */
  chaos?: ChaosConfig;
  /** The caller's provider: its clients' waits are woken when a child reports an instance done. */
  wakeClientsOf?: Provider;
  /** Where the children's output lines go, prefixed with `[runtime i/N]`. Default: this process's stderr. */
  output?: (line: string) => void;
  /** How long to wait for every child's `ready`. Default 60 000 ms (a loaded machine starts Bun slowly). */
  readyTimeoutMs?: number;
}

export interface RuntimeProcesses extends ExternalRuntimes {
  readonly pids: readonly number[];
  /**
   * Tells every child to stop, waits up to `timeoutMs` (default 15 000) for each to exit, kills
   * the ones still running, and resolves with the activities they counted; rejects naming every
   * child that did not exit 0 (or died earlier). Idempotent.
   */
  stop(timeoutMs?: number): Promise<{ activitiesExecuted: number }>;
  /** SIGTERM to every child still running (they shut down gracefully); for signal handlers. */
  kill(): void;
}

const ENTRY = join(import.meta.dir, "runtime-process-entry.ts");
const TAIL_LINES = 20;
const SNAPSHOT_TIMEOUT_MS = 30_000;

interface Child {
  index: number;
  proc: Subprocess<"ignore", "pipe", "pipe">;
  name: string;
  tail: string[];
  ready: boolean;
  stopped: { activities: number } | null;
  /** Resolves with the exit code (null when killed by a signal) once the process and its output are done. */
  finished: Promise<number | null>;
  exitCode: number | null | undefined;
}

/** Spawns the runtime processes and resolves once every one has reported ready. */
export async function startRuntimeProcesses(o: RuntimeProcessesOptions): Promise<RuntimeProcesses> {
  if (!Number.isSafeInteger(o.count) || o.count < 1 || o.count > MAX_RUNTIME_PROCESSES) {
    throw new RangeError(`startRuntimeProcesses: count must be an integer from 1 to ${MAX_RUNTIME_PROCESSES}, got ${String(o.count)}`);
  }
  if (o.chaos !== undefined) validateChaos(o.chaos);
  const output = o.output ?? ((line: string) => process.stderr.write(`${line}\n`));
  const hub = o.wakeClientsOf === undefined ? null : instanceSignals(o.wakeClientsOf);
  const failureCtl = new AbortController();
  let stopping = false;
  let seq = 0;
  const pending = new Map<number, { left: Set<number>; replies: ExternalRuntimeSnapshot; resolve(s: ExternalRuntimeSnapshot): void }>();
  let onReady: (() => void) | null = null;
  const children: Child[] = [];

  const fail = (err: Error) => {
    if (!failureCtl.signal.aborted) failureCtl.abort(err);
  };

  const describeExit = (c: Child, code: number | null) => {
    const how = code === null ? `was killed by ${c.proc.signalCode ?? "a signal"}` : `exited with code ${code}`;
    const tail = c.tail.length === 0 ? " (no output)" : `; last output:\n${c.tail.map((l) => `    ${l}`).join("\n")}`;
    return `${c.name} ${how}${tail}`;
  };

  const onMessage = (c: Child, m: ChildMessage) => {
    switch (m.t) {
      case "ready":
        c.ready = true;
        onReady?.();
        break;
      case "done":
        if (hub !== null) for (const id of m.ids) hub.notify(id, true);
        break;
      case "snapshot": {
        const p = pending.get(m.seq);
        if (p === undefined || !p.left.delete(c.index)) break;
        p.replies.activitiesExecuted = (p.replies.activitiesExecuted ?? 0) + m.activities;
        p.replies.peakRssMb += m.peakRssMb;
        p.replies.cpuMs += m.cpuMs;
        if (p.left.size === 0) {
          pending.delete(m.seq);
          p.resolve(p.replies);
        }
        break;
      }
      case "stopped":
        c.stopped = { activities: m.activities };
        break;
    }
  };

  for (let i = 1; i <= o.count; i++) {
    const proc = Bun.spawn([process.execPath, "run", ENTRY], {
      stdio: ["ignore", "pipe", "pipe"],
      serialization: "json",
      ipc: (message) => onMessage(child, message as ChildMessage),
    });
    const child: Child = {
      index: i,
      proc,
      name: `runtime process ${i} of ${o.count} (pid ${proc.pid})`,
      tail: [],
      ready: false,
      stopped: null,
      finished: null as unknown as Promise<number | null>,
      exitCode: undefined,
    };
    const prefix = `[runtime ${i}/${o.count}] `;
    const lines = (line: string) => {
      child.tail.push(line);
      if (child.tail.length > TAIL_LINES) child.tail.shift();
      output(prefix + line);
    };
    child.finished = Promise.all([proc.exited, readLines(proc.stdout, lines), readLines(proc.stderr, lines)]).then(([code]) => {
      child.exitCode = proc.signalCode !== null ? null : code;
      return child.exitCode;
    });
    void child.finished.then((code) => {
      if (!stopping) fail(new Error(`${child.name} ended before the run did: ${describeExit(child, code).slice(child.name.length + 1)}`));
      onReady?.();
    });
    children.push(child);
    proc.send({ t: "start", spec: { index: i, count: o.count, store: o.store, scenario: o.scenario, orchConcurrency: o.orchConcurrency, workerConcurrency: o.workerConcurrency, ...(o.chaos === undefined ? {} : { chaos: o.chaos }) } } satisfies ParentMessage);
  }

  const killAll = (signal: NodeJS.Signals) => {
    for (const c of children) if (c.exitCode === undefined && !c.proc.killed) c.proc.kill(signal);
  };

  // ---- readiness
  const readyTimeoutMs = o.readyTimeoutMs ?? 60_000;
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        const late = children.filter((c) => !c.ready).map((c) => c.name);
        reject(new Error(`${late.join(", ")} did not report ready within ${Math.round(readyTimeoutMs / 1000)} s`));
      }, readyTimeoutMs);
      onReady = () => {
        if (failureCtl.signal.aborted) {
          clearTimeout(timer);
          reject(failureCtl.signal.reason as Error);
        } else if (children.every((c) => c.ready)) {
          clearTimeout(timer);
          resolve();
        }
      };
      onReady();
    });
  } catch (err) {
    stopping = true;
    killAll("SIGKILL");
    await Promise.all(children.map((c) => c.finished));
    throw err;
  } finally {
    onReady = null;
  }

  let stopped: Promise<{ activitiesExecuted: number }> | null = null;

  return {
    pids: children.map((c) => c.proc.pid),
    failure: failureCtl.signal,

    snapshot() {
      if (failureCtl.signal.aborted) return Promise.reject(failureCtl.signal.reason as Error);
      const n = ++seq;
      return new Promise<ExternalRuntimeSnapshot>((resolve, reject) => {
        const timer = setTimeout(() => done(new Error(`runtime processes did not answer a snapshot request within ${SNAPSHOT_TIMEOUT_MS / 1000} s`)), SNAPSHOT_TIMEOUT_MS);
        const onFail = () => done(failureCtl.signal.reason as Error);
        function done(err: Error | null, s?: ExternalRuntimeSnapshot) {
          clearTimeout(timer);
          failureCtl.signal.removeEventListener("abort", onFail);
          pending.delete(n);
          if (err !== null) reject(err);
          else resolve(s!);
        }
        failureCtl.signal.addEventListener("abort", onFail, { once: true });
        pending.set(n, { left: new Set(children.map((c) => c.index)), replies: { activitiesExecuted: 0, peakRssMb: 0, cpuMs: 0 }, resolve: (s) => done(null, s) });
        for (const c of children) {
          try {
            c.proc.send({ t: "snapshot", seq: n } satisfies ParentMessage);
          } catch (err) {
            return done(new Error(`${c.name}: cannot send a snapshot request: ${(err as Error).message}`));
          }
        }
      });
    },

    stop(timeoutMs = 15_000) {
      stopped ??= (async () => {
        const diedEarly = failureCtl.signal.aborted ? (failureCtl.signal.reason as Error) : null;
        stopping = true;
        for (const c of children) {
          if (c.exitCode !== undefined) continue;
          try {
            c.proc.send({ t: "stop" } satisfies ParentMessage);
          } catch {
            c.proc.kill("SIGTERM"); // IPC already gone: the signal asks for the same graceful stop
          }
        }
        const problems: string[] = [];
        if (diedEarly !== null) problems.push(diedEarly.message);
        await Promise.all(
          children.map(async (c) => {
            let timer: ReturnType<typeof setTimeout> | undefined;
            const timedOut = await Promise.race([
              c.finished.then(() => false),
              new Promise<boolean>((r) => (timer = setTimeout(() => r(true), timeoutMs))),
            ]);
            clearTimeout(timer);
            if (timedOut) {
              c.proc.kill("SIGKILL");
              await c.finished;
              problems.push(`${c.name} did not exit within ${Math.round(timeoutMs / 1000)} s of being told to stop: killed`);
            } else if (c.exitCode !== 0 && (diedEarly === null || !diedEarly.message.startsWith(c.name))) {
              problems.push(describeExit(c, c.exitCode ?? null));
            }
          }),
        );
        if (problems.length > 0) throw new Error(problems.join("\n"));
        return { activitiesExecuted: children.reduce((sum, c) => sum + (c.stopped?.activities ?? 0), 0) };
      })();
      return stopped;
    },

    kill() {
      stopping = true;
      killAll("SIGTERM");
    },
  };
}

/** Calls `onLine` for each line of `stream` (the last one even without a newline); resolves at its end. */
async function readLines(stream: ReadableStream<Uint8Array>, onLine: (line: string) => void): Promise<void> {
  const decoder = new TextDecoder();
  let buffered = "";
  try {
    for await (const chunk of stream) {
      buffered += decoder.decode(chunk, { stream: true });
      let nl: number;
      while ((nl = buffered.indexOf("\n")) >= 0) {
        onLine(buffered.slice(0, nl).replace(/\r$/, ""));
        buffered = buffered.slice(nl + 1);
      }
    }
  } catch {
    // the pipe broke: the exit code says what happened
  }
  buffered += decoder.decode();
  if (buffered.length > 0) onLine(buffered);
}
