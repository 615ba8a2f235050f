/**
 * The one way e2e tests start runtimes. Every e2e file runs its cases once per store mode with fast
 * lock timeouts, through a `Harness`. The modes: SQLite in memory and on a WAL file, MemoryProvider,
 * SQLite in memory behind a wrapper that withholds every ProviderError message (the runtime and
 * the client must decide by error kind alone), and PostgreSQL (a fresh schema per store, on the
 * test process's server; skipped with the reason when there is none, except under CI):
 *
 *   describeEachProvider("title", (e2e) => {
 *     test("...", async () => {
 *       const env = await e2e.start({ activities, orchestrations }, options); // a runtime on a fresh store
 *       const next = await env.restart();                    // a process restart on that store
 *       const store = await e2e.store();                      // an empty store, no runtime yet
 *       const a = await e2e.start(handlersA, optionsA, store); // a runtime on the store's connection
 *       const b = await e2e.start(handlersB, optionsB, await store.connect()); // a second node on it
 *     });
 *   });
 *
 * After each test the harness stops every runtime it started, then closes every connection.
 */
import { afterAll, afterEach, describe } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SQL } from "bun";
import { Client } from "../../src/client.ts";
import type { Event } from "../../src/core/events.ts";
import type { Provider } from "../../src/provider.ts";
import { memorySuiteFactory } from "../../src/providers/memory.ts";
import { PostgresProvider } from "../../src/providers/postgres.ts";
import { SqliteProvider, sqliteSuiteFactory } from "../../src/providers/sqlite.ts";
import { postgresForTests } from "../providers/postgres-server.ts";
import { withOpaqueErrors } from "../providers/fixtures/opaque-errors.ts";
import type { RuntimeOptions } from "../../src/runtime/options.ts";
import { ActivityRegistry, OrchestrationRegistry } from "../../src/runtime/registry.ts";
import { Runtime } from "../../src/runtime/runtime.ts";

export type ModeName = "sqlite-memory" | "sqlite-file" | "memory" | "sqlite-opaque" | "postgres";
const MODES: readonly ModeName[] = ["sqlite-memory", "sqlite-file", "memory", "sqlite-opaque", "postgres"];

const pg = await postgresForTests();

/** A store's first connection, the provider suite's corruption hook acting on it, and (PostgreSQL) how to open another. */
interface Opened {
  provider: Provider;
  corruptHistory(instanceId: string): Promise<void>;
  connect?(): Promise<Provider>;
  /** Called once when the test's connections are closed (PostgreSQL: drops the schema). */
  dispose?(): Promise<void>;
}

/**
 * How each mode opens a store (`path` is set in file mode only). The hooks come from the
 * providers' own suite factories, as a third party would get them: one factory per store, so a
 * hook acts on that store's first connection.
 */
const KINDS: Record<ModeName, (path: string | null) => Promise<Opened>> = {
  "sqlite-memory": () => viaFactory(sqliteSuiteFactory(() => SqliteProvider.inMemory())),
  "sqlite-file": (path) => viaFactory(sqliteSuiteFactory(() => SqliteProvider.open(path!))),
  memory: () => viaFactory(memorySuiteFactory()),
  "sqlite-opaque": async () => {
    const opened = await viaFactory(sqliteSuiteFactory(() => SqliteProvider.inMemory()));
    return { ...opened, provider: withOpaqueErrors(opened.provider) };
  },
  postgres: async () => {
    const url = pg.url!;
    const schema = `e2e_${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`;
    const open = () => PostgresProvider.connect(url, { schema, poolMax: 4 });
    return {
      provider: await open(),
      connect: open,
      async corruptHistory(id) {
        const sql = new SQL(url, { max: 1 });
        await sql.unsafe(`UPDATE "${schema}".history SET event_data = 'NOT_VALID_JSON{{{' WHERE instance_id = $1`, [id]);
        await sql.close();
      },
      dispose: () => PostgresProvider.dropSchema(url, schema),
    };
  },
};

async function viaFactory(f: { createProvider(): Promise<Provider>; corruptInstanceHistory(id: string): Promise<void> }): Promise<Opened> {
  return { provider: await f.createProvider(), corruptHistory: (id) => f.corruptInstanceHistory(id) };
}

async function closeProvider(p: Provider): Promise<void> {
  await (p as Provider & { close?: () => unknown }).close?.();
}

export type ActivityHandlers = Record<string, (ctx: any, input: any) => unknown>;
export type OrchestrationHandlers = Record<string, (ctx: any, input: any) => Generator<any, any, any>>;

/** What a runtime runs: plain objects of handlers, or registries built elsewhere (e.g. versioned). */
export interface Handlers {
  activities?: ActivityHandlers | ActivityRegistry;
  orchestrations?: OrchestrationHandlers | OrchestrationRegistry;
}

/** One database: it outlives the runtimes and connections on it until the test ends. */
export interface Store {
  /** The connection the store was opened with. */
  readonly provider: Provider;
  /** Another connection: a new SqliteProvider on the file in file mode, a new PostgresProvider on the schema for PostgreSQL, the one provider otherwise. */
  connect(): Promise<Provider>;
  /** Makes an instance's stored history undecodable (the provider suite's corruption hook). */
  corruptHistory(instanceId: string): Promise<void>;
}

/** A running runtime, and a client on the same provider. */
export interface Env {
  readonly provider: Provider;
  readonly runtime: Runtime;
  readonly client: Client;
  /** Stops the runtime (idempotent); its connection stays open until the test ends. */
  shutdown(): Promise<void>;
  /**
   * A process restart: stops this runtime, closes its connection (file mode; unless another runtime
   * still runs on it) and starts a new runtime on a new connection to the same store (the same
   * provider in memory), with other code or options if given (default: this runtime's).
   */
  restart(handlers?: Handlers, options?: RuntimeOptions): Promise<Env>;
}

export interface Harness {
  readonly mode: ModeName;
  /** A fresh, empty store. */
  store(): Promise<Store>;
  /**
   * Starts a runtime with `FAST` options overridden by `options`: on a fresh store, on a store's
   * connection, or on a given provider (a connection from `store.connect()`, another runtime's
   * provider, or a wrapper around one; a runtime on a wrapper cannot `restart`).
   */
  start(handlers: Handlers, options?: RuntimeOptions, on?: Store | Provider): Promise<Env>;
  /** A path in this harness's temp dir (file mode), removed after the tests. */
  file(name: string): string;
  /** A store on an existing database file, e.g. one another process wrote. */
  openStore(path: string): Promise<Store>;
}

/**
 * For tests about replay itself (isReplaying, code that changes between re-runs): the instance
 * cache off, so every turn replays the whole history (docs/runtime-semantics.md §2.12).
 */
export const REPLAY_EVERY_TURN: RuntimeOptions = { instanceCacheSize: 0 };

/** Options that keep tests fast and quiet; override per test. */
const FAST: RuntimeOptions = {
  orchestrationConcurrency: 2,
  workerConcurrency: 2,
  dispatcherPollIntervalMs: 20,
  orchestratorLockTimeoutMs: 2_000,
  workerLockTimeoutMs: 2_000,
  workerLockRenewalBufferMs: 500,
  sessionIdleTimeoutMs: 10_000,
  logLevel: "off",
};

/** Registers `body` once per provider mode, as `title [mode]`, each with its own harness. */
export function describeEachProvider(title: string, body: (e2e: Harness) => void): void {
  for (const mode of MODES) {
    if (mode === "postgres" && pg.url === null) describe.skip(`${title} [postgres] [skipped: ${pg.reason}]`, () => body(harness(mode)));
    else describe(`${title} [${mode}]`, () => body(harness(mode)));
  }
}

/**
 * A harness for the enclosing describe block (or file): registers the hooks that stop its runtimes
 * and close its connections after each test, and remove its temp dir after all of them.
 */
export function harness(mode: ModeName): Harness {
  let dir: string | null = null;
  let files = 0;
  /** The store of each connection this harness opened. */
  const storeOf = new Map<Provider, Store>();
  const running = new Set<Env>();
  const disposals: (() => Promise<void>)[] = [];

  afterEach(async () => {
    // Several runtimes may share one connection: stop them all before closing any.
    await Promise.all([...running].map((e) => e.shutdown()));
    running.clear();
    await Promise.all([...storeOf.keys()].map(closeProvider));
    storeOf.clear();
    await Promise.all(disposals.splice(0).map((d) => d()));
  });
  afterAll(() => {
    if (dir !== null) rmSync(dir, { recursive: true, force: true });
  });

  const file = (name: string): string => {
    dir ??= mkdtempSync(join(tmpdir(), "duroxide-e2e-"));
    return join(dir, name);
  };

  const storeOn = async (path: string | null): Promise<Store> => {
    const { provider: first, corruptHistory, connect, dispose } = await KINDS[path === null ? mode : "sqlite-file"](path);
    if (dispose) disposals.push(dispose);
    const store: Store = {
      provider: first,
      async connect() {
        if (connect) {
          const p = await connect();
          storeOf.set(p, store);
          return p;
        }
        if (path === null) return first; // one process, one in-memory store
        const p = await SqliteProvider.open(path);
        storeOf.set(p, store);
        return p;
      },
      corruptHistory,
    };
    storeOf.set(first, store);
    return store;
  };

  const store = () => storeOn(mode === "sqlite-file" ? file(`e2e-${++files}.db`) : null);

  const start = async (handlers: Handlers, options: RuntimeOptions = {}, on?: Store | Provider): Promise<Env> => {
    const target = on ?? (await store());
    const provider = "connect" in target ? target.provider : target;
    const home = storeOf.get(provider) ?? null;
    const runtime = await Runtime.start(provider, activityRegistry(handlers.activities), orchestrationRegistry(handlers.orchestrations), { ...FAST, ...options });
    const env: Env = {
      provider,
      runtime,
      client: new Client(provider),
      async shutdown() {
        await runtime.shutdown(200);
        running.delete(env);
      },
      async restart(nextHandlers = handlers, nextOptions = options) {
        if (home === null) throw new Error("restart: this runtime runs on a provider the harness did not open");
        await env.shutdown();
        const next = await home.connect();
        if (next !== provider && ![...running].some((e) => e.provider === provider)) await closeProvider(provider);
        return start(nextHandlers, nextOptions, next);
      },
    };
    running.add(env);
    return env;
  };

  return { mode, store, start, file, openStore: storeOn };
}

function activityRegistry(handlers: ActivityHandlers | ActivityRegistry = {}): ActivityRegistry {
  if (handlers instanceof ActivityRegistry) return handlers;
  const b = ActivityRegistry.builder();
  for (const [name, fn] of Object.entries(handlers)) b.register(name, fn);
  return b.build();
}

function orchestrationRegistry(handlers: OrchestrationHandlers | OrchestrationRegistry = {}): OrchestrationRegistry {
  if (handlers instanceof OrchestrationRegistry) return handlers;
  const b = OrchestrationRegistry.builder();
  for (const [name, fn] of Object.entries(handlers)) b.register(name, fn);
  return b.build();
}

/** The event types of an instance's latest execution, in order (e.g. for history-shape assertions). */
export async function historyTypes(client: Client, instance: string, executionId?: number): Promise<string[]> {
  const h: Event[] = await client.readExecutionHistory(instance, executionId);
  return h.map((e) => e.type);
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
