/**
 * What the scripts share for their flags: parsing (node:util parseArgs, strict, no positionals),
 * a typed error for bad flags (each script prints it and exits 2), and the check of numeric
 * flags, so that every script refuses a bad number with the same kind of message.
 */
import { parseArgs, type ParseArgsConfig } from "node:util";

/** A bad flag: the script prints the message and exits with status 2. */
export class UsageError extends Error {}

/** The flags' values; an unknown flag or a missing value is a UsageError. */
export function parseFlags(argv: string[], options: NonNullable<ParseArgsConfig["options"]>): Record<string, string | boolean | undefined> {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values as Record<string, string | boolean | undefined>;
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/**
 * Flags and positional arguments, for tools with subcommands (`duroxide show ID`): the same strict
 * flag parsing as parseFlags, with the non-flag words kept in order.
 */
export function parseCommandLine(
  argv: string[],
  options: NonNullable<ParseArgsConfig["options"]>,
): { values: Record<string, string | boolean | undefined>; positionals: string[] } {
  try {
    const r = parseArgs({ args: argv, options, strict: true, allowPositionals: true });
    return { values: r.values as Record<string, string | boolean | undefined>, positionals: r.positionals };
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

export interface NumberFlagRange {
  min: number;
  max: number;
  integer: boolean;
  /** The value when the flag is absent. */
  default: number;
  /** `min` itself is refused (the flag must be > min). */
  exclusiveMin?: boolean;
}

const INTEGER_TEXT = /^[+-]?\d+$/;
const DECIMAL_TEXT = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

/** The flag's number, or its default when absent; anything else outside the range is a UsageError naming the flag. */
export function numberFlag(flag: string, raw: unknown, r: NumberFlagRange): number {
  if (raw === undefined) return r.default;
  const text = String(raw).trim();
  // Decimal only: Number() alone also takes "0x10", "0b11", "0o7" and "1e3", so a typo or a
  // pasted hex value would silently become a different count (and "1e3" is not "an integer").
  const n = (r.integer ? INTEGER_TEXT : DECIMAL_TEXT).test(text) ? Number(text) : NaN;
  if (!Number.isFinite(n) || (r.exclusiveMin ? n <= r.min : n < r.min) || n > r.max || (r.integer && !Number.isSafeInteger(n))) {
    const range = r.exclusiveMin ? `> ${r.min} and <= ${r.max}` : `from ${r.min} to ${r.max}`;
    throw new UsageError(`${flag} must be ${r.integer ? "an integer" : "a number"} ${range}, got ${JSON.stringify(raw)}`);
  }
  return n;
}

/**
 * A script's command line parsed by `parse`, or the exit status once help was printed (0) or a
 * usage error was reported with the usage text (2). Other errors propagate.
 */
export function parseOrExit<T>(argv: string[], parse: (argv: string[]) => T | "help", usage: string): { cli: T } | { exit: number } {
  let cli: T | "help";
  try {
    cli = parse(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`error: ${err.message}\n\n${usage}\n`);
    return { exit: 2 };
  }
  if (cli === "help") {
    process.stdout.write(`${usage}\n`);
    return { exit: 0 };
  }
  return { cli };
}
