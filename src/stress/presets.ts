/**
 * The testing guide's three recommended configurations by name (docs/stress-tests.md §9.1):
 * `--preset quick|baseline|concurrency` of scripts/parallel_orchestrations.ts, and for a provider
 * repo's own stress script `stressPreset("baseline")`.
 */
import { ConfigurationError } from "../core/errors.ts";
import { describe } from "../core/describe.ts";
import { CONCURRENCY_STRESS, PERFORMANCE_BASELINE, QUICK_VALIDATION, type ResolvedStressTestConfig } from "./config.ts";

export const STRESS_PRESET_NAMES = ["quick", "baseline", "concurrency"] as const;
export type StressPresetName = (typeof STRESS_PRESET_NAMES)[number];

export interface StressPreset {
  name: StressPresetName;
  /** The guide's heading for it. */
  title: string;
  config: Readonly<ResolvedStressTestConfig>;
  /** The config in words, one line (shown by --help). */
  summary: string;
}

export const STRESS_PRESETS: Readonly<Record<StressPresetName, StressPreset>> = Object.freeze({
  quick: {
    name: "quick",
    title: "Quick Validation (30 seconds)",
    config: QUICK_VALIDATION,
    summary: "10 in flight, 30 s, 3 tasks x 50 ms, 1/1 (Quick Validation)",
  },
  baseline: {
    name: "baseline",
    title: "Performance Baseline (10 seconds)",
    config: PERFORMANCE_BASELINE,
    summary: "20 in flight, 10 s, 5 tasks x 10 ms, 1/1 (Performance Baseline)",
  },
  concurrency: {
    name: "concurrency",
    title: "Concurrency Stress Test (10 seconds)",
    config: CONCURRENCY_STRESS,
    summary: "20 in flight, 10 s, 5 tasks x 10 ms, 2/2 (Concurrency Stress Test)",
  },
});

/** The preset called `name`; a ConfigurationError listing the names for anything else. */
export function stressPreset(name: string): StressPreset {
  if (typeof name === "string" && (STRESS_PRESET_NAMES as readonly string[]).includes(name)) {
    return STRESS_PRESETS[name as StressPresetName];
  }
  throw new ConfigurationError(`unknown stress preset ${describe(name)}: the presets are ${STRESS_PRESET_NAMES.join(", ")} (the testing guide's recommended configurations)`);
}
