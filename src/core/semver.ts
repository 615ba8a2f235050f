/** Semantic versions as the capability filter compares them: (major, minor, patch) tuples. */
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

/** Parses "1.2.3", ignoring any pre-release or build suffix ("1.2.3-rc.1+abc"). */
export function parseSemver(text: string): Semver {
  const m = /^(\d+)\.(\d+)\.(\d+)(?:[-+].*)?$/.exec(text.trim());
  if (m === null) throw new DecodeError("Semver", `"${text}" is not MAJOR.MINOR.PATCH`);
  return { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3]) };
}

export function formatSemver(v: Semver): string {
  return `${v.major}.${v.minor}.${v.patch}`;
}
