/**
 * Shared set-up for end-to-end tests: every e2e file runs its cases once per SQLite mode
 * (in memory, and on a WAL file), with fast lock timeouts so crash-recovery paths finish quickly.
 */
import { afterAll, describe } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "../../src/client.ts";
import type { Event } from "../../src/core/events.ts";
import { SqliteProvider } from "../../src/providers/sqlite.ts";
import type { RuntimeOptions } from "../../src/runtime/options.ts";
import { ActivityRegistry, OrchestrationRegistry } from "../../src/runtime/registry.ts";
import { Runtime } from "../../src/runtime/runtime.ts";

export interface ProviderMode {
  name: "sqlite-memory" | "sqlite-file";
  /** A fresh, empty store. */
  create(): Promise<SqliteProvider>;
  /** For file mode: open another connection to the store `create` made last (restart scenarios). */
  reopen(p: SqliteProvider): Promise<SqliteProvider>;
}

const dir = mkdtempSync(join(tmpdir(), "duroxide-e2e-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const paths = new WeakMap<SqliteProvider, string>();

export const MODES: ProviderMode[] = [
  {
    name: "sqlite-memory",
    create: () => SqliteProvider.inMemory(),
    reopen: async (p) => p, // one process, one database: "restart" reuses the same store
  },
  {
    name: "sqlite-file",
    async create() {
      mkdirSync(dir, { recursive: true }); // another e2e file's afterAll may have removed it
      const path = join(dir, `e2e-${++n}.db`);
      const p = await SqliteProvider.open(path);
      paths.set(p, path);
      return p;
    },
    async reopen(p) {
      const path = paths.get(p);
      if (path === undefined) throw new Error("not a file provider from this harness");
      const q = await SqliteProvider.open(path);
      paths.set(q, path);
      return q;
    },
  },
];

/** Registers `body` once per provider mode, as `title [mode]`. */
export function describeEachProvider(title: string, body: (mode: ProviderMode) => void): void {
  for (const mode of MODES) describe(`${title} [${mode.name}]`, () => body(mode));
}

/** Options that keep tests fast and quiet; override per test. */
export const FAST: RuntimeOptions = {
  orchestrationConcurrency: 2,
  workerConcurrency: 2,
  dispatcherPollIntervalMs: 20,
  orchestratorLockTimeoutMs: 2_000,
  workerLockTimeoutMs: 2_000,
  workerLockRenewalBufferMs: 500,
  sessionIdleTimeoutMs: 10_000,
  logLevel: "off",
};

export interface Env {
  provider: SqliteProvider;
  runtime: Runtime;
  client: Client;
  /** Shuts the runtime down (idempotent) and closes the provider. */
  stop(): Promise<void>;
}

/** Builds registries from plain objects of handlers and starts a runtime on a fresh store. */
export async function startEnv(
  mode: ProviderMode,
  handlers: {
    activities?: Record<string, (ctx: any, input: any) => unknown>;
    orchestrations?: Record<string, (ctx: any, input: any) => Generator<any, any, any>>;
  },
  options: RuntimeOptions = {},
  provider?: SqliteProvider,
): Promise<Env> {
  const p = provider ?? (await mode.create());
  const runtime = await Runtime.start(p, activityRegistry(handlers.activities ?? {}), orchestrationRegistry(handlers.orchestrations ?? {}), { ...FAST, ...options });
  const client = new Client(p);
  return {
    provider: p,
    runtime,
    client,
    async stop() {
      await runtime.shutdown(200);
      p.close();
    },
  };
}

export function activityRegistry(handlers: Record<string, (ctx: any, input: any) => unknown>): ActivityRegistry {
  const b = ActivityRegistry.builder();
  for (const [name, fn] of Object.entries(handlers)) b.register(name, fn);
  return b.build();
}

export function orchestrationRegistry(handlers: Record<string, (ctx: any, input: any) => Generator<any, any, any>>): OrchestrationRegistry {
  const b = OrchestrationRegistry.builder();
  for (const [name, fn] of Object.entries(handlers)) b.register(name, fn);
  return b.build();
}

/** The event types of an instance's latest execution, in order (e.g. for history-shape assertions). */
export async function historyTypes(client: Client, instance: string, executionId?: number): Promise<string[]> {
  const h: Event[] = await client.readExecutionHistory(instance, executionId);
  return h.map((e) => e.type);
}

/**
 * Shuts `old`'s runtime down and starts a new one on the same store (a new connection in file
 * mode, the same database in memory), as a process restart would.
 */
export async function restartEnv(
  mode: ProviderMode,
  old: Env,
  handlers: Parameters<typeof startEnv>[1],
  options: RuntimeOptions = {},
): Promise<Env> {
  await old.runtime.shutdown(200);
  const p = await mode.reopen(old.provider);
  if (p !== old.provider) old.provider.close();
  return startEnv(mode, handlers, options, p);
}

/** Resolves with the promise's value, or fails if it takes longer than `ms`. */
export async function within<T>(what: string, p: Promise<T>, ms = 5_000): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** A promise plus its resolver, for activities that wait on the test. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}
