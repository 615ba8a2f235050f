/**
 * How suite cases are declared and registered with bun:test.
 *
 * A case declares what it needs beyond the core Provider (the management capability, the
 * corruption hooks, long or short polling); when the provider under test lacks it, the case is
 * registered as skipped with the reason in its name, never dropped.
 */
import { describe, test } from "bun:test";
import type { Provider } from "../provider.ts";

export interface ProviderFactory {
  /** A fresh, empty, isolated store on every call. */
  createProvider(): Promise<Provider>;
  /** Orchestration lock timeout the suite uses; default 1000 ms, must be at least 1000. */
  lockTimeoutMs?(): number;
  /** Makes every stored history event of the instance undecodable. */
  corruptInstanceHistory?(instanceId: string): Promise<void>;
  /** The highest attempt_count over the instance's orchestrator-queue messages. */
  getMaxAttemptCount?(instanceId: string): Promise<number>;
}

export interface SuiteOptions {
  /**
   * Override of the provider's own `capabilities().longPolling` (fetches wait for work up to
   * pollTimeoutMs); selects which long-polling cases run. Normally left out.
   */
  longPolling?: boolean;
  /** How quickly a short-poll fetch on an empty store must return, ms. Default 100; raise for remote databases. */
  shortPollThresholdMs?: number;
  /** Override of the provider's management capability (normally probed through `asManagementCapability()`). */
  management?: boolean;
}

export type Requirement = "management" | "corruptInstanceHistory" | "getMaxAttemptCount" | "longPolling" | "shortPolling" | "releaseSessionLocks";

/** What a case receives: the factory with defaults filled in and providers closed after the case. */
export interface CaseContext {
  createProvider(): Promise<Provider>;
  lockTimeoutMs: number;
  shortPollThresholdMs: number;
  /** Whether the provider under test long-polls (its capabilities, or SuiteOptions.longPolling). */
  longPolling: boolean;
  corruptInstanceHistory(instanceId: string): Promise<void>;
  getMaxAttemptCount(instanceId: string): Promise<number>;
}

export interface ProviderCase {
  /** The rule the case checks, in words a provider author can act on. */
  name: string;
  requires?: readonly Requirement[];
  run(ctx: CaseContext): Promise<void>;
}

export interface ProviderModule {
  /** The catalog module name, e.g. "instance_locking". */
  name: string;
  cases: readonly ProviderCase[];
}

const REASONS: Record<Requirement, string> = {
  management: "provider has no management capability (asManagementCapability() returned null)",
  corruptInstanceHistory: "factory has no corruptInstanceHistory hook",
  getMaxAttemptCount: "factory has no getMaxAttemptCount hook",
  longPolling: "provider short-polls (capabilities().longPolling is not true)",
  shortPolling: "provider long-polls (capabilities().longPolling is true)",
  releaseSessionLocks: "provider has no releaseSessionLocks method (optional: a stopped runtime's sessions then wait for their lease)",
};

interface Capabilities {
  management: boolean;
  longPolling: boolean;
  /** The optional `releaseSessionLocks` method is implemented (docs/provider-contract.md §5.3). */
  releaseSessionLocks: boolean;
}

async function closeProvider(p: Provider): Promise<void> {
  const closable = p as Provider & { close?: () => unknown };
  if (typeof closable.close === "function") await closable.close();
}

/**
 * Learns what the provider can do from one provider instance: its own `capabilities()` and
 * whether `asManagementCapability()` answers; explicit SuiteOptions win.
 */
async function probe(factory: ProviderFactory, options: SuiteOptions): Promise<Capabilities> {
  const p = await factory.createProvider();
  try {
    const declared = typeof p.capabilities === "function" ? p.capabilities() : {};
    const management = options.management ?? (declared.management ?? p.asManagementCapability() !== null);
    return {
      management,
      longPolling: options.longPolling ?? declared.longPolling ?? false,
      releaseSessionLocks: typeof p.releaseSessionLocks === "function",
    };
  } finally {
    await closeProvider(p);
  }
}

function missing(req: Requirement, factory: ProviderFactory, caps: Capabilities): boolean {
  switch (req) {
    case "management":
      return !caps.management;
    case "corruptInstanceHistory":
      return typeof factory.corruptInstanceHistory !== "function";
    case "getMaxAttemptCount":
      return typeof factory.getMaxAttemptCount !== "function";
    case "longPolling":
      return !caps.longPolling;
    case "shortPolling":
      return caps.longPolling;
    case "releaseSessionLocks":
      return !caps.releaseSessionLocks;
  }
}

function makeContext(factory: ProviderFactory, options: SuiteOptions, caps: Capabilities, opened: Provider[]): CaseContext {
  const lockTimeoutMs = factory.lockTimeoutMs?.() ?? 1000;
  return {
    async createProvider() {
      const p = await factory.createProvider();
      opened.push(p);
      return p;
    },
    lockTimeoutMs,
    shortPollThresholdMs: options.shortPollThresholdMs ?? 100,
    longPolling: caps.longPolling,
    corruptInstanceHistory(id) {
      if (!factory.corruptInstanceHistory) throw new Error("factory has no corruptInstanceHistory hook");
      return factory.corruptInstanceHistory(id);
    },
    getMaxAttemptCount(id) {
      if (!factory.getMaxAttemptCount) throw new Error("factory has no getMaxAttemptCount hook");
      return factory.getMaxAttemptCount(id);
    },
  };
}

function registerWith(modules: readonly ProviderModule[], factory: ProviderFactory, options: SuiteOptions, caps: Capabilities): void {
  const lock = factory.lockTimeoutMs?.() ?? 1000;
  if (lock < 1000) throw new Error(`ProviderFactory.lockTimeoutMs() must be >= 1000 (got ${lock}): cases sleep past 1 s worker locks`);
  // A case may wait out several lock timeouts and a 5 s timer; give it room beyond bunfig defaults.
  const timeout = Math.max(30_000, lock * 12);
  for (const mod of modules) {
    describe(mod.name, () => {
      for (const c of mod.cases) {
        const lacking = (c.requires ?? []).filter((r) => missing(r, factory, caps));
        if (lacking.length > 0) {
          test.skip(`${c.name} [skipped: ${lacking.map((r) => REASONS[r]).join("; ")}]`, () => {});
          continue;
        }
        test(
          c.name,
          async () => {
            const opened: Provider[] = [];
            try {
              await c.run(makeContext(factory, options, caps, opened));
            } finally {
              for (const p of opened) await closeProvider(p).catch(() => {});
            }
          },
          timeout,
        );
      }
    });
  }
}

/**
 * Registers the given modules' cases with bun:test. Call it with top-level `await` in a test file:
 * it first creates one provider to read its capabilities.
 */
export async function registerModules(
  modules: readonly ProviderModule[],
  factory: ProviderFactory,
  options: SuiteOptions = {},
): Promise<void> {
  const caps = await probe(factory, options);
  registerWith(modules, factory, options, caps);
}
