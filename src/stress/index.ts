/**
 * duroxide/stress: the stress harness (docs/stress-tests.md; API shapes of the provider testing
 * guide).
 *
 *   import { runStressTest, printComparisonTable, PERFORMANCE_BASELINE } from "duroxide/stress";
 *   const r = await runStressTest("My Provider", await MyProvider.create(), PERFORMANCE_BASELINE);
 *   printComparisonTable([r]);
 *
 * runStressTest throws StressTestFailedError (with `.result`) when success is below 100 %.
 *
 * The verdict (docs/stress-tests.md §9): the guide's targets and warning signs for those results.
 *
 *   const verdict = judgeStressRun([r]);            // r.timeline feeds the warning signs
 *   console.log(formatVerdict(verdict, { color: shouldColor(process.stdout) }));
 *   if (verdictGateFailures(verdict, ["target"]).length > 0) process.exit(1);
 */
export {
  CI_MINIMAL,
  CONCURRENCY_STRESS,
  DEFAULT_CONFIG,
  DEFAULT_WAIT_TIMEOUT_SECS,
  PERFORMANCE_BASELINE,
  QUICK_VALIDATION,
  configLabel,
  describeConfig,
  resolveConfig,
  workerCeilingOrchPerSec,
  type ResolvedStressTestConfig,
  type StressTestConfig,
} from "./config.ts";
export {
  ResourceSampler,
  percentile,
  summarizeLatencies,
  type LatencySummary,
  type ResourceUsage,
} from "./metrics.ts";
export {
  DRAIN_LIMIT_MS,
  FANOUT_ORCHESTRATION,
  PROCESS_TASK,
  StressTestFailedError,
  categorize,
  createDefaultActivities,
  createDefaultOrchestrations,
  fanoutOrchestration,
  measureStressTest,
  runStressTest,
  type ActivityCounter,
  type ExternalRuntimeSnapshot,
  type ExternalRuntimes,
  type FailureCategory,
  type FailureSample,
  type RunStressTestOptions,
  type StressProgress,
  type StressTestResult,
} from "./scenario-parallel.ts";
export {
  DEFAULT_LARGE_PAYLOAD_CONFIG,
  LARGE_PAYLOAD_ORCHESTRATION,
  LARGE_PAYLOAD_SUB_ORCHESTRATION,
  MINIMAL_LARGE_PAYLOAD_CONFIG,
  activitiesPerLargePayloadInstance,
  createLargePayloadActivities,
  createLargePayloadOrchestrations,
  generatePayload,
  resolveLargePayloadConfig,
  runLargePayloadTest,
  type LargePayloadConfig,
} from "./scenario-large-payload.ts";
export {
  MAX_RUNTIME_PROCESSES,
  startRuntimeProcesses,
  type RuntimeProcesses,
  type RuntimeProcessesOptions,
  type ScenarioDescriptor,
} from "./runtime-processes.ts";
export { type StoreDescriptor } from "./stores.ts";
export { TABLE_COLUMNS, TABLE_MARKER, formatComparisonTable, printComparisonTable, tableHeader } from "./table.ts";
export {
  RESULTS_FILE,
  extractTable,
  formatEntry,
  lastTrackedCommit,
  prependEntry,
  trackResults,
  type TrackingEntry,
} from "./tracking.ts";
// The verdict (docs/stress-tests.md §9): the guide's presets, targets and warning signs.
export { STRESS_PRESETS, STRESS_PRESET_NAMES, stressPreset, type StressPreset, type StressPresetName } from "./presets.ts";
export { TimelineRecorder, type TimelineSecond } from "./timeline.ts";
export {
  GUIDE_TARGETS,
  judgeStressRun,
  latencyFloorMs,
  verdictGateFailures,
  type FailOn,
  type JudgeOptions,
  type ProviderStorage,
  type RowVerdict,
  type ScalingVerdict,
  type StressVerdict,
  type TargetCheck,
  type TargetId,
  type TargetLevel,
  type TargetStatus,
  type VerdictRowInput,
  type VerdictSummary,
} from "./verdict.ts";
export { VERDICT_MARKER, formatVerdict, shouldColor, type FormatVerdictOptions } from "./verdict-format.ts";
export {
  DEFAULT_WARNING_THRESHOLDS,
  detectDecreasingThroughput,
  detectRssGrowth,
  detectSuccessBelow100,
  detectVariableLatency,
  detectWarningSigns,
  detectZeroThroughput,
  resolveWarningThresholds,
  type WarningSignCheck,
  type WarningSignId,
  type WarningSignInput,
  type WarningSignStatus,
  type WarningThresholds,
} from "./warning-signs.ts";
export { latencyHistogram, type LatencyHistogram } from "./latency-histogram.ts";
export { runTimelineOf, type RunTimeline } from "./run-timeline.ts";
export { renderStressReport, type StressReportMeta } from "./report/html-report.ts";
export { parseRunsJson, reportRunFromResult, ReportInputError, type ReportRun } from "./report/report-run.ts";
export { parseResultsFile, type TrackedEntry, type TrackedRow } from "./report/results-history.ts";
export { renderTrendChart, writeTrendChart } from "./report/trend-chart.ts";
