/**
 * Chaos for stress runs (`--chaos RATE`, docs/stress-tests.md §7): the runtime's provider calls go
 * through a FaultInjectingProvider, while the pump's client talks to the store directly, so every
 * fault lands on the runtime and the run must still complete 100 %. By default the faults are the
 * two a healthy store really shows: a retryable error before the call, and a reply lost after a
 * committed call.
 *
 * A fetch whose reply is lost leaves its item locked until the lease expires: nothing else can
 * recover it, since the runtime never saw the lock token. So chaos runs use short leases
 * (`leaseMs`, 2 s from the CLI) for both queues, or every lost fetch would stall an instance for
 * the default 30 s worker lease.
 */
import { ConfigurationError } from "../core/errors.ts";
import type { Provider } from "../provider.ts";
import type { RuntimeOptions } from "../runtime/options.ts";
import { FAULT_MODES, FaultInjectingProvider, type FaultMode } from "../testing/fault-injecting-provider.ts";
import { deriveSeed } from "../testing/seeded-random.ts";

export const DEFAULT_CHAOS_MODES: readonly FaultMode[] = ["retryable-before", "reply-lost"];

/** A stress run's chaos: plain data, so runtime processes get the same settings over IPC. */
export interface ChaosConfig {
  /** Share (0..1) of the runtime's provider calls that fail. */
  rate: number;
  modes: readonly FaultMode[];
  /** Seed of the fault schedule; runtime process i uses a seed derived from it and i. */
  seed: number;
  /** Orchestrator and worker lock timeout of the faulted runtimes, ms (≥ 1000); absent: the runtime defaults. */
  leaseMs?: number;
}

/** Checks a ChaosConfig; throws ConfigurationError naming the bad field. */
export function validateChaos(c: ChaosConfig): ChaosConfig {
  if (typeof c !== "object" || c === null) throw new ConfigurationError("chaos must be an object { rate, modes, seed }");
  if (typeof c.rate !== "number" || !Number.isFinite(c.rate) || c.rate < 0 || c.rate > 1) throw new ConfigurationError(`chaos rate must be a number from 0 to 1, got ${String(c.rate)}`);
  if (!Array.isArray(c.modes) || c.modes.length === 0) throw new ConfigurationError("chaos modes must name at least one fault mode");
  for (const m of c.modes) if (!FAULT_MODES.includes(m)) throw new ConfigurationError(`unknown chaos fault mode ${JSON.stringify(m)} (modes: ${FAULT_MODES.join(", ")})`);
  if (!Number.isSafeInteger(c.seed) || c.seed < 0 || c.seed > 0xffff_ffff) throw new ConfigurationError(`chaos seed must be an integer from 0 to 4294967295, got ${String(c.seed)}`);
  if (c.leaseMs !== undefined && (!Number.isSafeInteger(c.leaseMs) || c.leaseMs < 1_000)) throw new ConfigurationError(`chaos leaseMs must be an integer >= 1000, got ${String(c.leaseMs)}`);
  return c;
}

/** The runtime options a chaos run's runtimes use: the short leases, if any. */
export function chaosRuntimeOptions(c: ChaosConfig): RuntimeOptions {
  return c.leaseMs === undefined ? {} : { orchestratorLockTimeoutMs: c.leaseMs, workerLockTimeoutMs: c.leaseMs };
}

/** The provider a runtime of a chaos run uses: `provider` behind the faults (`index`: runtime process number, for its own seed). */
export function withChaos(provider: Provider, chaos: ChaosConfig, index?: number): FaultInjectingProvider {
  const seed = index === undefined ? chaos.seed : deriveSeed(chaos.seed, `runtime-${index}`);
  return new FaultInjectingProvider(provider, { rate: chaos.rate, modes: chaos.modes, seed });
}

/** One line for a run's header, e.g. "rate 0.05 of the runtime's provider calls, modes retryable-before,reply-lost, seed 42". */
export function describeChaos(c: ChaosConfig): string {
  const leases = c.leaseMs === undefined ? "" : `; runtime lock timeouts ${c.leaseMs} ms (a lost fetch reply holds its item that long)`;
  return `rate ${c.rate} of the runtime's provider calls (the pump's client is not faulted), modes ${c.modes.join(",")}, seed ${c.seed}${leases}`;
}
