/**
 * duroxide: durable orchestrations for TypeScript on Bun. The curated public surface: the runtime,
 * the client, registries, the orchestration and activity APIs, and every type their signatures
 * take or return. Providers live in their own entry points ("duroxide/sqlite", "duroxide/postgres",
 * "duroxide/memory");
 * provider authors import the contract (work items, queue and fetch shapes,
 * codecs, validators) from "duroxide/provider"; the pure replay engine for unit tests of
 * orchestrations is in "duroxide/testing".
 */
export { Runtime } from "./runtime/runtime.ts";
export type { InstanceCacheStats } from "./runtime/instance-cache.ts";
export { Client, type OrchestrationStatus, type TerminalStatus, type WaitOptions } from "./client.ts";
export {
  ActivityRegistry,
  ActivityRegistryBuilder,
  OrchestrationRegistry,
  OrchestrationRegistryBuilder,
  type ResolvedOrchestration,
  type VersionPolicy,
} from "./runtime/registry.ts";
export { OrchestrationContext, type ActivityOptions, type SubOrchestrationOptions, type TaskValue } from "./runtime/context.ts";
export type { ActivityContext, ActivityHandler, OrchestrationHandler } from "./runtime/handler-types.ts";
export {
  DurableTask,
  TaskFailedError,
  ActivityFailedError,
  SubOrchestrationFailedError,
  TaskCancelledError,
  OrchestrationUsageError,
  type LeafTask,
  type RaceResult,
  type Settlement,
} from "./runtime/tasks.ts";
export { RetryPolicy, type BackoffStrategy, type RetryPolicyInput } from "./runtime/retry.ts";
export {
  RUNTIME_VERSION,
  MAX_DURATION_MS,
  consoleLogger,
  type Logger,
  type LogLevel,
  type ResolvedRuntimeOptions,
  type RuntimeOptions,
  type UnregisteredBackoff,
} from "./runtime/options.ts";
export type { ConsoleLoggerOptions } from "./runtime/logging/console-logger.ts";
export type { LogFormat } from "./runtime/logging/log-format.ts";
export type { MetricsOptions } from "./runtime/observability-options.ts";
export { formatPrometheus, PROMETHEUS_CONTENT_TYPE } from "./runtime/metrics/prometheus.ts";
export { metricValue, type MetricSeriesSnapshot, type MetricSnapshot, type MetricsSnapshot } from "./runtime/metrics/snapshot.ts";
export type { MetricType } from "./runtime/metrics/instruments.ts";
export type {
  OtelAttributes,
  OtelCounter,
  OtelHistogram,
  OtelInstrumentOptions,
  OtelMeter,
  OtelObservableGauge,
  OtelObservableResult,
} from "./runtime/metrics/otel-bridge.ts";
/** The original's KV limits, the defaults of maxKvKeys / maxKvValueBytes (docs/runtime-semantics.md §5.5). */
export { MAX_KV_KEYS, MAX_KV_VALUE_BYTES } from "./runtime/kv-limits.ts";
export type { Semver, SemverRange } from "./core/semver.ts";
export type { Provider, ProviderAdmin } from "./provider.ts";
export {
  DuroxideError,
  ProviderError,
  ClientError,
  ConfigurationError,
  ValidationError,
  DecodeError,
  NondeterminismError,
  type ClientErrorCode,
  type ProviderErrorKind,
} from "./core/errors.ts";
export { TagFilter } from "./core/queue-types.ts";
export type { ExecutionStatus } from "./core/status.ts";
export type * from "./core/events.ts";
export type * from "./core/error-details.ts";
export type * from "./core/admin-types.ts";
export type { OrchestrationStats } from "./core/orchestration-stats.ts";
export type { OrchestrationDescriptor } from "./runtime/orchestration-descriptor.ts";
