/**
 * What a CLI command is (docs/cli.md): a name, its usage text, its flags, and a `run` that gets
 * the parsed arguments and a lazily opened store. main.ts keeps them in one table, so adding a
 * command (say `dashboard`) is one entry there.
 */
import type { ParseArgsConfig } from "node:util";
import type { Client } from "../client.ts";
import type { Colors, CliIo } from "./output.ts";

/** Exit statuses (docs/cli.md "Exit status"). */
export const EXIT_OK = 0;
/** Not found, refused, or a check that found a problem. */
export const EXIT_FAILED = 1;
/** Bad usage: unknown command or flag, missing or malformed argument. */
export const EXIT_USAGE = 2;

/** The command could not do what was asked (not found, refused): printed, exit 1. */
export class CliFailure extends Error {}

export type FlagSpec = NonNullable<ParseArgsConfig["options"]>;

export interface CommandContext {
  io: CliIo;
  c: Colors;
  /** `--json`: print JSON for scripts instead of text. */
  json: boolean;
  values: Record<string, string | boolean | undefined>;
  /** Positional arguments after the command name. */
  args: string[];
  /** The store named by --store or DUROXIDE_STORE, opened on first use and closed by main. */
  client(): Promise<Client>;
}

export interface CliCommand {
  name: string;
  /** One line for `duroxide --help`. */
  summary: string;
  /** `duroxide NAME ...` synopsis and explanation for `duroxide NAME --help`. */
  usage: string;
  /** The command's own flags (the common ones, --store, --json, --help, are added by main). */
  flags: FlagSpec;
  /** Positional arguments: at least `min`, at most `max`. */
  args: { min: number; max: number };
  /** Does the command read a store? (`--help` never opens one.) */
  needsStore: boolean;
  run(ctx: CommandContext): Promise<number>;
}
