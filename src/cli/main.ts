/**
 * The `duroxide` command line (docs/cli.md): one table of commands, the common flags (--store,
 * --json, --help), store opening, and the mapping of failures to exit statuses (0 done, 1 not
 * found / refused / check failed, 2 usage). scripts/duroxide.ts runs it.
 */
import { parseCommandLine, UsageError } from "../tools/cli-flags.ts";
import { Client } from "../client.ts";
import { ClientError, DuroxideError, ValidationError } from "../core/errors.ts";
import { openStoreUrl, parseStoreUrl, STORE_ENV, type OpenedStore } from "../tools/store-url.ts";
import { CliFailure, EXIT_FAILED, EXIT_OK, EXIT_USAGE, type CliCommand, type FlagSpec } from "./command.ts";
import { deleteCommand, metricsCommand, pruneCommand, queuesCommand } from "./commands-admin.ts";
import { historyCommand, listCommand, showCommand } from "./commands-inspect.ts";
import { replayCommand } from "./commands-replay.ts";
import { cancelCommand, enqueueCommand, raiseCommand } from "./commands-signal.ts";
import { colorsFor, safe, type CliIo } from "./output.ts";

/**
 * Every command, in `--help` order. A new command (e.g. `dashboard`, serving
 * src/dashboard/server.ts's startDashboard over the same --store) is one more entry.
 */
export const COMMANDS: readonly CliCommand[] = [
  listCommand,
  showCommand,
  historyCommand,
  raiseCommand,
  enqueueCommand,
  cancelCommand,
  deleteCommand,
  pruneCommand,
  queuesCommand,
  metricsCommand,
  replayCommand,
];

/** Flags every command takes. */
const COMMON_FLAGS: FlagSpec = {
  store: { type: "string" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
};

function mainHelp(): string {
  const w = Math.max(...COMMANDS.map((c) => c.name.length));
  return `duroxide: inspect and operate a duroxide store

usage: duroxide COMMAND [ARGS] [--store URL] [--json]

commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(w)}  ${c.summary}`).join("\n")}

common flags:
  --store URL  the store: sqlite:./data.db, a file path, or postgres://user@host/db[?schema=NAME]
               (default: $${STORE_ENV})
  --json       print JSON for scripts instead of text
  --help, -h   help (duroxide COMMAND --help for one command)

and: duroxide dashboard --store URL [--port N]   the web dashboard (--help for its options)

exit status: 0 done, 1 not found / refused / check failed, 2 bad usage.
Colour on a terminal only; NO_COLOR turns it off.`;
}

function commandHelp(cmd: CliCommand): string {
  return `${cmd.usage}\n\ncommon flags: --store URL (default $${STORE_ENV}), --json, --help`;
}

/** The first word that is not a flag or the value of a common flag (`--store X list` is list). */
function commandName(argv: string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--store") i++;
    else if (a === "--") return argv[i + 1];
    else if (!a.startsWith("-")) return a;
  }
  return undefined;
}

/** Runs one command line; returns the exit status. Never throws: every failure is printed. */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  let store: OpenedStore | null = null;
  try {
    const name = commandName(argv);
    const wantsHelp = argv.includes("--help") || argv.includes("-h");
    if (name === undefined || name === "help") {
      const topic = name === "help" ? argv[argv.indexOf("help") + 1] : undefined;
      const cmd = topic === undefined ? undefined : COMMANDS.find((c) => c.name === topic);
      if (cmd !== undefined) {
        io.out(commandHelp(cmd));
        return EXIT_OK;
      }
      if (wantsHelp || name === "help") {
        io.out(mainHelp());
        return EXIT_OK;
      }
      io.err(`${mainHelp()}\n\nerror: no command given`);
      return EXIT_USAGE;
    }
    const cmd = COMMANDS.find((c) => c.name === name);
    if (cmd === undefined) throw new UsageError(`unknown command "${name}"; commands: ${COMMANDS.map((c) => c.name).join(", ")}`);
    const rest = [...argv];
    rest.splice(argv.indexOf(name), 1);
    if (rest[0] === "--") rest.shift();
    if (wantsHelp) {
      io.out(commandHelp(cmd));
      return EXIT_OK;
    }
    const { values, positionals } = parseCommandLine(rest, { ...COMMON_FLAGS, ...cmd.flags });
    if (positionals.length < cmd.args.min || positionals.length > cmd.args.max) {
      const want = cmd.args.min === cmd.args.max ? `${cmd.args.min}` : `${cmd.args.min} to ${cmd.args.max}`;
      throw new UsageError(`${cmd.name} takes ${want} argument${cmd.args.max === 1 ? "" : "s"}, got ${positionals.length}\n\n${cmd.usage.split("\n")[0]}`);
    }
    const json = values.json === true;
    const storeArg = typeof values.store === "string" ? values.store : io.env[STORE_ENV];
    let client: Client | null = null;
    const code = await cmd.run({
      io,
      c: colorsFor(io, json),
      json,
      values,
      args: positionals,
      client: async () => {
        if (client !== null) return client;
        try {
          parseStoreUrl(storeArg);
        } catch (err) {
          throw new UsageError((err as Error).message);
        }
        store = await openStoreUrl(storeArg);
        client = new Client(store);
        return client;
      },
    });
    return code;
  } catch (err) {
    return report(io, err);
  } finally {
    if (store !== null) {
      try {
        await (store as OpenedStore).close();
      } catch {
        // Closing after the answer was printed: nothing the user can act on.
      }
    }
  }
}

/** A message made terminal-safe line by line (a flag or id the user typed may carry escapes). */
function safeLines(text: string): string {
  return text.split("\n").map(safe).join("\n");
}

/** Prints a failure and picks its exit status. */
function report(io: CliIo, err: unknown): number {
  if (err instanceof UsageError) {
    io.err(`error: ${safeLines(err.message)}\n(duroxide --help for usage)`);
    return EXIT_USAGE;
  }
  if (err instanceof CliFailure) {
    io.err(`error: ${safeLines(err.message)}`);
    return EXIT_FAILED;
  }
  if (err instanceof ClientError && err.code === "InvalidInput") {
    io.err(`error: ${safe(err.message)}`);
    return EXIT_USAGE;
  }
  if (err instanceof ClientError && err.code === "ManagementNotAvailable") {
    io.err(`error: ${safe(err.message)}; this command needs a store with management (SQLite or PostgreSQL)`);
    return EXIT_FAILED;
  }
  if (err instanceof ValidationError || err instanceof DuroxideError) {
    io.err(`error: ${safe(err.message)}`);
    return EXIT_FAILED;
  }
  const message = err instanceof Error ? err.message : String(err);
  io.err(`error: ${safe(message)}\n(an unexpected failure; if the store is reachable and this persists, please report it)`);
  return EXIT_FAILED;
}
