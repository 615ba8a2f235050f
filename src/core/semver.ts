/** Semantic versions: (major, minor, patch) tuples, as registries and the capability filter compare them. */
import { DecodeError } from "./errors.ts";

export interface Semver {
  major: number;
  minor: number;
  patch: number;
}

/** Both bounds inclusive. */
export interface SemverRange {
  min: Semver;
  max: Semver;
}

export function isSemver(v: unknown): v is Semver {
  if (typeof v !== "object" || v === null) return false;
  const s = v as Record<string, unknown>;
  return [s.major, s.minor, s.patch].every((n) => typeof n === "number" && Number.isSafeInteger(n) && n >= 0);
}

/** Lexicographic tuple comparison (not the original's packed-integer comparison). */
export function compareSemver(a: Semver, b: Semver): number {
  return a.major - b.major || a.minor - b.minor || a.patch - b.patch;
}

export function semverInRange(v: Semver, r: SemverRange): boolean {
  return compareSemver(v, r.min) >= 0 && compareSemver(v, r.max) <= 0;
}

/**
 * The one rule for version strings, everywhere a version is given (registerVersioned, setPolicy,
 * startOrchestration, sub-orchestrations, continue-as-new): exactly MAJOR.MINOR.PATCH, three
 * integers without leading zeros, nothing around them. Pre-release and build suffixes
 * ("1.0.0-rc.1", "1.0.0+abc") are refused, since a registry keyed by (major, minor, patch) could
 * not tell them apart from "1.0.0". Every accepted string is canonical:
 * `formatSemver(parseSemver(s)) === s`.
 */
const SEMVER = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$/;

/** How error messages state the rule. */
export const SEMVER_RULE = '"MAJOR.MINOR.PATCH" like "1.0.0" (no "v" prefix, pre-release or build suffix)';

/** The version `text` names under the one rule, or undefined when it breaks it (or is not a string). */
export function tryParseSemver(text: unknown): Semver | undefined {
  if (typeof text !== "string") return undefined;
  const m = SEMVER.exec(text);
  if (m === null) return undefined;
  const v = { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3]) };
  return isSemver(v) ? v : undefined;
}

/** `tryParseSemver` that throws DecodeError for a string that breaks the rule. */
export function parseSemver(text: string): Semver {
  const v = tryParseSemver(text);
  if (v === undefined) throw new DecodeError("Semver", `${JSON.stringify(text)} is not ${SEMVER_RULE}`);
  return v;
}

export function formatSemver(v: Semver): string {
  return `${v.major}.${v.minor}.${v.patch}`;
}
