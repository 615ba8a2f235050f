/**
 * Runtime options: the public `RuntimeOptions` shape, its defaults, validation
 * (`resolveRuntimeOptions`), and the small timing formulas the dispatchers share
 * (lease renewal interval, unregistered-handler backoff). Durations are milliseconds.
 */
import { describe } from "../core/describe.ts";
import { ConfigurationError } from "../core/errors.ts";
import { DEFAULT_MAX_PAYLOAD_BYTES } from "../core/payload.ts";
import { MAX_WORKER_TAGS, type TagFilter } from "../core/queue-types.ts";
import { MAX_KV_KEYS, MAX_KV_VALUE_BYTES } from "./kv-limits.ts";
import { compareSemver, formatSemver, isSemver, parseSemver, type SemverRange } from "../core/semver.ts";
import { consoleLogger } from "./logging/console-logger.ts";
import type { LogFormat } from "./logging/log-format.ts";
import { resolveLogFormat, resolveMetricsOption, type MetricsOptions, type ResolvedMetricsOptions } from "./observability-options.ts";

export { consoleLogger };

/** The version of this runtime: recorded on every execution it starts (capability filtering). */
export const RUNTIME_VERSION = "0.1.0";

export type LogLevel = "debug" | "info" | "warn" | "error";

export interface Logger {
  log(level: LogLevel, message: string, fields: Record<string, unknown>): void;
}

export interface UnregisteredBackoff {
  /** First delay after an unregistered orchestration/activity is fetched. Default 1000. */
  baseDelayMs: number;
  /** Cap on the doubling delay. Default 60_000. */
  maxDelayMs: number;
}

export interface RuntimeOptions {
  /**
   * Concurrent orchestration dispatcher loops. Default 2, ≥ 0; 0 runs no orchestration dispatcher
   * (a worker-only runtime, docs/runtime-semantics.md §1.11). Not both concurrencies 0.
   */
  orchestrationConcurrency?: number;
  /**
   * Concurrent activity worker loops (session and plain activities share them). Default 2, ≥ 0;
   * 0 runs no activity dispatcher (an orchestration-only runtime).
   */
  workerConcurrency?: number;
  /** How often idle dispatchers look for work written by other processes. Default 100, > 0. */
  dispatcherPollIntervalMs?: number;
  /** Max wait passed as `pollTimeoutMs` to providers that long-poll. Default 30_000, ≥ 0. */
  dispatcherLongPollTimeoutMs?: number;
  /** Instance lock lease per turn. Default 5000, > 0. */
  orchestratorLockTimeoutMs?: number;
  /** Renewal lead for the instance lock (see `renewalIntervalMs`). Default 2000, ≥ 0. */
  orchestratorLockRenewalBufferMs?: number;
  /** Activity lease; an activity is redelivered this long after its worker died. Default 30_000, > 0. */
  workerLockTimeoutMs?: number;
  /** Renewal lead for activity leases. Default 5000, ≥ 0. */
  workerLockRenewalBufferMs?: number;
  /** Poison threshold for both queues: a message fetched more often than this fails. Default 10, ≥ 1. */
  maxAttempts?: number;
  /** Backoff while a fetched orchestration/activity has no registered handler. */
  unregisteredBackoff?: Partial<UnregisteredBackoff>;
  /** Wait after signalling a cancelled activity before abandoning it. Default 10_000, ≥ 0. */
  activityCancellationGracePeriodMs?: number;
  /**
   * Longest one activity attempt may run: then its signal is aborted (a "TimeoutError") and the
   * attempt fails with a timeout error the orchestration sees (its retry policy applies), freeing
   * the worker slot. Default 0 = no limit (activities may legitimately run for hours);
   * docs/runtime-semantics.md §1.5.
   */
  activityTimeoutMs?: number;
  /**
   * An activity still running after this long is logged at warn (and again each time its running
   * time doubles), naming it and how to bound it. Default 60_000; 0 = never warn.
   */
  slowActivityWarningMs?: number;
  /** Executions this runtime will replay, by the runtime version that created them. Default 0.0.0..=RUNTIME_VERSION. */
  supportedReplayVersions?: SemverRange;
  /** Session lease. Default 30_000, > 0. */
  sessionLockTimeoutMs?: number;
  /** Session heartbeat lead. Default 5000, ≥ 0. */
  sessionLockRenewalBufferMs?: number;
  /** Unpin a session after no activity flow for this long. Default 300_000; must exceed workerLockTimeoutMs − workerLockRenewalBufferMs. */
  sessionIdleTimeoutMs?: number;
  /** Orphaned-session sweep period. Default 300_000, > 0. */
  sessionCleanupIntervalMs?: number;
  /** Distinct concurrent sessions across all worker slots. Default 10, ≥ 1. */
  maxSessionsPerRuntime?: number;
  /**
   * Session owner id (docs/runtime-semantics.md §1.7). Without it each worker slot of this runtime
   * is its own owner (`work-<slot>-<runtime id>`): this runtime's sessions are its own, released
   * on graceful shutdown, held until their lease lapses after a crash. With it every slot of every
   * runtime started with this id shares ownership, and a process restarted with the same id
   * resumes its sessions at once, even after a crash (e.g. a StatefulSet pod name).
   */
  workerNodeId?: string;
  /** Which activity tags this runtime's workers accept. Default DefaultOnly (untagged only). */
  workerTagFilter?: TagFilter;
  /**
   * While a worker slot runs an activity, claim the slot's next (non-session) activity, so the
   * slot starts it the moment the current one ends instead of after a provider round trip. A
   * claimed item waits at most `workerPrefetchHoldMs`, then goes back to the queue for others.
   * Default true (docs/runtime-semantics.md §6.4).
   */
  workerPrefetch?: boolean;
  /** Longest a prefetched activity waits for its slot before it is handed back. Default 1000, ≥ 1. */
  workerPrefetchHoldMs?: number;
  /** A turn that would grow history past this many events fails the instance. Default 10_000, ≥ 1. */
  maxHistoryEvents?: number;
  /**
   * Instances whose live state (running generator) this runtime keeps after a committed turn, so
   * the next turn applies only its new messages instead of replaying the whole history; least
   * recently used dropped first. 0 = off (every turn replays). Default 1000, ≥ 0
   * (docs/runtime-semantics.md §2.12).
   */
  instanceCacheSize?: number;
  /** Largest input/output/event/activity payload (UTF-8 bytes) a turn may write. Default 1 MiB, ≥ 1. */
  maxPayloadBytes?: number;
  /** Largest custom status (UTF-8 bytes). Default 256 KiB, ≥ 1. */
  maxCustomStatusBytes?: number;
  /** Most user KV keys per instance. Default MAX_KV_KEYS (150), ≥ 1. */
  maxKvKeys?: number;
  /** Largest KV value (UTF-8 bytes of the value as passed to setValue). Default MAX_KV_VALUE_BYTES (64 KiB), ≥ 1. */
  maxKvValueBytes?: number;
  /** Longest activity tag (UTF-8 bytes). Default 256, ≥ 1. */
  maxTagBytes?: number;
  /** Where runtime and trace logs go. Default: `consoleLogger(logLevel)`. A custom logger only receives lines at or above `logLevel`. */
  logger?: Logger;
  /** Minimum level logged; "off" silences everything. Default "info". */
  logLevel?: LogLevel | "off";
  /** Format of the default console logger: "pretty" (coloured on a terminal) or "json" (one object per line). Default "pretty" (docs/runtime-semantics.md §10). */
  logFormat?: LogFormat;
  /** Metrics (`runtime.metrics()`): on by default; `false` turns them off; `{ meter }` also reports to OpenTelemetry (docs/runtime-semantics.md §9). */
  metrics?: boolean | MetricsOptions;
}

/** Every option present and validated. `workerNodeId` stays undefined when not given. */
export interface ResolvedRuntimeOptions {
  orchestrationConcurrency: number;
  workerConcurrency: number;
  dispatcherPollIntervalMs: number;
  dispatcherLongPollTimeoutMs: number;
  orchestratorLockTimeoutMs: number;
  orchestratorLockRenewalBufferMs: number;
  workerLockTimeoutMs: number;
  workerLockRenewalBufferMs: number;
  maxAttempts: number;
  unregisteredBackoff: Readonly<UnregisteredBackoff>;
  activityCancellationGracePeriodMs: number;
  activityTimeoutMs: number;
  slowActivityWarningMs: number;
  supportedReplayVersions: SemverRange;
  sessionLockTimeoutMs: number;
  sessionLockRenewalBufferMs: number;
  sessionIdleTimeoutMs: number;
  sessionCleanupIntervalMs: number;
  maxSessionsPerRuntime: number;
  workerNodeId: string | undefined;
  workerTagFilter: TagFilter;
  workerPrefetch: boolean;
  maxHistoryEvents: number;
  instanceCacheSize: number;
  maxPayloadBytes: number;
  maxCustomStatusBytes: number;
  maxKvKeys: number;
  maxKvValueBytes: number;
  maxTagBytes: number;
  workerPrefetchHoldMs: number;
  /** Already filtered by `logLevel`: call it unconditionally. */
  logger: Logger;
  logLevel: LogLevel | "off";
  logFormat: LogFormat;
  metrics: ResolvedMetricsOptions;
}

/** Lower bound of a numeric option: ≥ 0 or ≥ 1 (integers). */
type Min = 0 | 1;

/**
 * The longest duration an option or timeout argument may name: what a timer can represent
 * (setTimeout fires at once for anything longer, with only a warning). Durable timers are not
 * bound by it: their fire time is stored, not held in a timer (docs/runtime-semantics.md §6.5).
 */
export const MAX_DURATION_MS = 2 ** 31 - 1;

const NUMERIC_OPTIONS = {
  orchestrationConcurrency: [2, 0],
  workerConcurrency: [2, 0],
  dispatcherPollIntervalMs: [100, 1],
  dispatcherLongPollTimeoutMs: [30_000, 0],
  orchestratorLockTimeoutMs: [5_000, 1],
  orchestratorLockRenewalBufferMs: [2_000, 0],
  workerLockTimeoutMs: [30_000, 1],
  workerLockRenewalBufferMs: [5_000, 0],
  maxAttempts: [10, 1],
  activityCancellationGracePeriodMs: [10_000, 0],
  activityTimeoutMs: [0, 0],
  slowActivityWarningMs: [60_000, 0],
  sessionLockTimeoutMs: [30_000, 1],
  sessionLockRenewalBufferMs: [5_000, 0],
  sessionIdleTimeoutMs: [300_000, 1],
  sessionCleanupIntervalMs: [300_000, 1],
  maxSessionsPerRuntime: [10, 1],
  maxHistoryEvents: [10_000, 1],
  instanceCacheSize: [1000, 0],
  // Shared with the client, which refuses larger payloads up front (src/client.ts).
  maxPayloadBytes: [DEFAULT_MAX_PAYLOAD_BYTES, 1],
  maxCustomStatusBytes: [256 * 1024, 1],
  maxKvKeys: [MAX_KV_KEYS, 1],
  maxKvValueBytes: [MAX_KV_VALUE_BYTES, 1],
  maxTagBytes: [256, 1],
  workerPrefetchHoldMs: [1_000, 1],
} as const satisfies Record<string, readonly [number, Min]>;

type NumericOption = keyof typeof NUMERIC_OPTIONS;

const OTHER_OPTIONS = [
  "unregisteredBackoff",
  "supportedReplayVersions",
  "workerNodeId",
  "workerTagFilter",
  "workerPrefetch",
  "logger",
  "logLevel",
  "logFormat",
  "metrics",
] as const;

const KNOWN_OPTIONS: ReadonlySet<string> = new Set<string>([...Object.keys(NUMERIC_OPTIONS), ...OTHER_OPTIONS]);

const LOG_RANK: Record<LogLevel | "off", number> = { debug: 0, info: 1, warn: 2, error: 3, off: 4 };

export const DEFAULT_UNREGISTERED_BACKOFF: Readonly<UnregisteredBackoff> = Object.freeze({
  baseDelayMs: 1_000,
  maxDelayMs: 60_000,
});

/** Validates `opts`, fills in defaults, and throws `ConfigurationError` naming the first bad option. */
export function resolveRuntimeOptions(opts?: RuntimeOptions): ResolvedRuntimeOptions {
  if (opts === undefined || opts === null) opts = {};
  if (typeof opts !== "object" || Array.isArray(opts)) {
    throw new ConfigurationError(`RuntimeOptions must be an object, got ${describe(opts)}`);
  }
  const raw = opts as Record<string, unknown>;
  for (const key of Object.keys(raw)) {
    if (!KNOWN_OPTIONS.has(key)) {
      const hint = suggest(key);
      throw new ConfigurationError(
        `unknown RuntimeOptions key "${key}"${hint === undefined ? "" : ` (did you mean "${hint}"?)`}`,
      );
    }
  }

  const numbers = {} as Record<NumericOption, number>;
  for (const [key, [def, min]] of Object.entries(NUMERIC_OPTIONS) as [NumericOption, readonly [number, Min]][]) {
    numbers[key] = integerOption(key, raw[key], def, min, key.endsWith("Ms") ? MAX_DURATION_MS : Number.MAX_SAFE_INTEGER);
  }
  if (numbers.orchestrationConcurrency === 0 && numbers.workerConcurrency === 0) {
    throw new ConfigurationError(
      "orchestrationConcurrency and workerConcurrency are both 0: this runtime would run nothing; " +
        "set orchestrationConcurrency: 0 for a worker-only runtime or workerConcurrency: 0 for an orchestration-only one, not both",
    );
  }

  const unregisteredBackoff = resolveUnregisteredBackoff(raw.unregisteredBackoff);
  const supportedReplayVersions = resolveReplayVersions(raw.supportedReplayVersions);

  let workerNodeId: string | undefined;
  if (raw.workerNodeId !== undefined) {
    if (typeof raw.workerNodeId !== "string" || raw.workerNodeId.trim() === "") {
      throw new ConfigurationError(`workerNodeId must be a non-empty string, got ${describe(raw.workerNodeId)}`);
    }
    workerNodeId = raw.workerNodeId;
  }

  const workerTagFilter = resolveTagFilter(raw.workerTagFilter, numbers.maxTagBytes);
  if (raw.workerPrefetch !== undefined && typeof raw.workerPrefetch !== "boolean") {
    throw new ConfigurationError(`workerPrefetch must be a boolean, got ${describe(raw.workerPrefetch)}`);
  }
  const workerPrefetch = raw.workerPrefetch ?? true;

  let logLevel: LogLevel | "off" = "info";
  if (raw.logLevel !== undefined) {
    if (typeof raw.logLevel !== "string" || !Object.hasOwn(LOG_RANK, raw.logLevel)) {
      throw new ConfigurationError(
        `logLevel must be one of "debug", "info", "warn", "error", "off", got ${describe(raw.logLevel)}`,
      );
    }
    logLevel = raw.logLevel as LogLevel | "off";
  }

  const logFormat = resolveLogFormat(raw.logFormat);
  const metrics = resolveMetricsOption(raw.metrics);
  let logger: Logger;
  if (raw.logger === undefined) {
    logger = neverThrows(consoleLogger(logLevel, { format: logFormat }), logLevel);
  } else {
    const l = raw.logger as { log?: unknown } | null;
    if (typeof l !== "object" || l === null || typeof l.log !== "function") {
      throw new ConfigurationError(
        `logger must be an object with a log(level, message, fields) method, got ${describe(raw.logger)}`,
      );
    }
    logger = neverThrows(raw.logger as Logger, logLevel);
  }

  // The session idle rule (docs/runtime-semantics.md §6): a session must outlive the gap between
  // two renewals of a running activity's lease, or a long activity would let its session unpin
  // while it runs.
  const leaseGap = numbers.workerLockTimeoutMs - numbers.workerLockRenewalBufferMs;
  if (numbers.sessionIdleTimeoutMs <= leaseGap) {
    throw new ConfigurationError(
      `sessionIdleTimeoutMs (${numbers.sessionIdleTimeoutMs}) must be greater than workerLockTimeoutMs − ` +
        `workerLockRenewalBufferMs (${numbers.workerLockTimeoutMs} − ${numbers.workerLockRenewalBufferMs} = ${leaseGap}), ` +
        `or a long-running session activity would let its session unpin`,
    );
  }

  return {
    ...numbers,
    unregisteredBackoff,
    supportedReplayVersions,
    workerNodeId,
    workerTagFilter,
    workerPrefetch,
    logger,
    logLevel,
    logFormat,
    metrics,
  };
}

/**
 * How often to renew a lease of `timeoutMs` (docs/runtime-semantics.md §6): for timeouts ≥ 15 s
 * renew `bufferMs` before expiry, else at half the timeout rounded up to whole seconds; never more
 * often than once a second.
 * Examples: (30 s, 5 s) → 25 s; (5 s, 2 s) → 3 s; (1 s, any) → 500 ms (short leases renew at half).
 */
export function renewalIntervalMs(timeoutMs: number, bufferMs: number): number {
  if (timeoutMs >= 15_000) {
    return Math.max(timeoutMs - Math.min(Math.max(bufferMs, 0), timeoutMs), 1_000);
  }
  const interval = Math.max(Math.ceil(timeoutMs / 2 / 1_000) * 1_000, 1_000);
  // Short leases (tests, tight configs): the 1 s floor would renew at or after expiry; use half.
  return interval < timeoutMs ? interval : Math.max(Math.floor(timeoutMs / 2), 1);
}

/**
 * Delay before retrying work whose handler is not registered (docs/runtime-semantics.md §5.3),
 * for the `attempt`-th fetch (1-based): `baseDelayMs · 2^min(attempt − 1, 6)`, capped at
 * `maxDelayMs`.
 * Defaults give 1, 2, 4, 8, 16, 32, 60, 60, ... seconds.
 */
export function unregisteredBackoffMs(
  attempt: number,
  backoff: Readonly<UnregisteredBackoff> = DEFAULT_UNREGISTERED_BACKOFF,
): number {
  const n = Number.isFinite(attempt) ? Math.max(Math.floor(attempt), 1) : 1;
  const exponent = Math.min(n - 1, 6);
  return Math.min(backoff.baseDelayMs * 2 ** exponent, backoff.maxDelayMs);
}

/** True when a line at `level` passes the threshold `threshold`. */
export function shouldLog(level: LogLevel, threshold: LogLevel | "off"): boolean {
  return LOG_RANK[level] >= LOG_RANK[threshold];
}

// --- helpers ---------------------------------------------------------------------------------

/**
 * The runtime's logger: lines below `threshold` are not passed on, and a logger that throws loses
 * its line, never the caller's work. Without this an orchestration's `ctx.traceInfo` would fail
 * the orchestration (and only outside replay: a nondeterministic outcome), and a throw in the
 * dispatchers' own lines would break a commit (docs/runtime-semantics.md §10.1). The first
 * failure is reported once on stderr, the only place left to say it.
 */
function neverThrows(inner: Logger, threshold: LogLevel | "off"): Logger {
  let reported = false;
  return {
    log(level, message, fields) {
      if (!shouldLog(level, threshold)) return;
      try {
        inner.log(level, message, fields);
      } catch (err) {
        if (reported) return;
        reported = true;
        try {
          console.error(`duroxide: the logger threw (${err instanceof Error ? err.message : String(err)}) and its line was dropped; fix the logger's log(level, message, fields). Further failures are not reported.`);
        } catch {
          // stderr itself is gone: nothing left to tell.
        }
      }
    },
  };
}

function integerOption(name: string, value: unknown, def: number, min: Min, max = Number.MAX_SAFE_INTEGER): number {
  if (value === undefined) return def;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min || value > max) {
    const want = min === 0 ? "a non-negative integer" : "a positive integer";
    const range = max === MAX_DURATION_MS ? ` of milliseconds up to ${MAX_DURATION_MS} (2^31−1, the longest a timer can wait)` : "";
    throw new ConfigurationError(`${name} must be ${want}${range}, got ${describe(value)}`);
  }
  return value;
}

/**
 * `runtime.shutdown(timeoutMs)`: an integer number of ms from 0 to 2^31−1 (a timer waits it out;
 * a longer or fractional value would silently become a ~1 ms grace or be rounded).
 */
export function checkShutdownTimeout(timeoutMs: unknown): void {
  if (typeof timeoutMs !== "number" || !Number.isSafeInteger(timeoutMs) || timeoutMs < 0 || timeoutMs > MAX_DURATION_MS) {
    throw new ConfigurationError(
      `shutdown timeoutMs must be an integer number of milliseconds from 0 to ${MAX_DURATION_MS} (2^31−1), got ${describe(timeoutMs)}`,
    );
  }
}

function resolveUnregisteredBackoff(value: unknown): Readonly<UnregisteredBackoff> {
  if (value === undefined) return DEFAULT_UNREGISTERED_BACKOFF;
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new ConfigurationError(
      `unregisteredBackoff must be an object { baseDelayMs, maxDelayMs }, got ${describe(value)}`,
    );
  }
  const v = value as Record<string, unknown>;
  for (const key of Object.keys(v)) {
    if (key !== "baseDelayMs" && key !== "maxDelayMs") {
      throw new ConfigurationError(`unknown unregisteredBackoff key "${key}" (expected baseDelayMs, maxDelayMs)`);
    }
  }
  const baseDelayMs = integerOption("unregisteredBackoff.baseDelayMs", v.baseDelayMs, DEFAULT_UNREGISTERED_BACKOFF.baseDelayMs, 0, MAX_DURATION_MS);
  const maxDelayMs = integerOption("unregisteredBackoff.maxDelayMs", v.maxDelayMs, DEFAULT_UNREGISTERED_BACKOFF.maxDelayMs, 0, MAX_DURATION_MS);
  if (maxDelayMs < baseDelayMs) {
    throw new ConfigurationError(
      `unregisteredBackoff.maxDelayMs (${maxDelayMs}) must be ≥ unregisteredBackoff.baseDelayMs (${baseDelayMs})`,
    );
  }
  return Object.freeze({ baseDelayMs, maxDelayMs });
}

function resolveReplayVersions(value: unknown): SemverRange {
  if (value === undefined) {
    return Object.freeze({ min: Object.freeze({ major: 0, minor: 0, patch: 0 }), max: Object.freeze(parseSemver(RUNTIME_VERSION)) });
  }
  if (typeof value !== "object" || value === null) {
    throw new ConfigurationError(
      `supportedReplayVersions must be { min: Semver, max: Semver }, got ${describe(value)}`,
    );
  }
  const { min, max } = value as Record<string, unknown>;
  for (const [bound, v] of [["min", min], ["max", max]] as const) {
    if (!isSemver(v)) {
      throw new ConfigurationError(
        `supportedReplayVersions.${bound} must be a semver { major, minor, patch } of non-negative integers, got ${describe(v)}`,
      );
    }
  }
  const lo = min as SemverRange["min"];
  const hi = max as SemverRange["max"];
  if (compareSemver(lo, hi) > 0) {
    throw new ConfigurationError(
      `supportedReplayVersions.min (${formatSemver(lo)}) must be ≤ supportedReplayVersions.max (${formatSemver(hi)})`,
    );
  }
  return Object.freeze({
    min: Object.freeze({ major: lo.major, minor: lo.minor, patch: lo.patch }),
    max: Object.freeze({ major: hi.major, minor: hi.minor, patch: hi.patch }),
  });
}

function resolveTagFilter(value: unknown, maxTagBytes: number): TagFilter {
  if (value === undefined) return Object.freeze({ type: "DefaultOnly" });
  const usage = `use TagFilter.defaultOnly(), .tags(...), .defaultAnd(...), .any() or .none()`;
  if (typeof value !== "object" || value === null) {
    throw new ConfigurationError(`workerTagFilter must be a TagFilter, got ${describe(value)}; ${usage}`);
  }
  const f = value as { type?: unknown; tags?: unknown };
  switch (f.type) {
    case "DefaultOnly":
    case "Any":
    case "None":
      return Object.freeze({ type: f.type });
    case "Tags":
    case "DefaultAnd": {
      let tags: unknown[];
      if (f.tags instanceof Set) tags = [...f.tags];
      else if (Array.isArray(f.tags)) tags = [...f.tags];
      else {
        throw new ConfigurationError(
          `workerTagFilter (${f.type}) needs a Set of tags, got ${describe(f.tags)}; ${usage}`,
        );
      }
      const unique = new Set<string>();
      for (const tag of tags) {
        if (typeof tag !== "string" || tag === "") {
          throw new ConfigurationError(`workerTagFilter tags must be non-empty strings, got ${describe(tag)}`);
        }
        const bytes = Buffer.byteLength(tag, "utf8");
        if (bytes > maxTagBytes) {
          throw new ConfigurationError(
            `workerTagFilter tag "${tag.slice(0, 40)}…" is ${bytes} bytes; the limit (maxTagBytes) is ${maxTagBytes}`,
          );
        }
        unique.add(tag);
      }
      if (unique.size === 0 || unique.size > MAX_WORKER_TAGS) {
        throw new ConfigurationError(
          `workerTagFilter (${f.type}) must name 1 to ${MAX_WORKER_TAGS} tags, got ${unique.size}`,
        );
      }
      return Object.freeze({ type: f.type, tags: unique as ReadonlySet<string> });
    }
    default:
      throw new ConfigurationError(`workerTagFilter has unknown type ${describe(f.type)}; ${usage}`);
  }
}

/** The known option closest to a misspelt key, if any is close enough to be a typo. */
function suggest(key: string): string | undefined {
  const lower = key.toLowerCase();
  let best: string | undefined;
  let bestDist = Infinity;
  for (const known of KNOWN_OPTIONS) {
    const d = editDistance(lower, known.toLowerCase());
    if (d < bestDist) {
      bestDist = d;
      best = known;
    }
  }
  return bestDist <= Math.max(2, Math.floor(key.length / 4)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length]!;
}
