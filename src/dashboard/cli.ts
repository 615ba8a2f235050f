/**
 * The dashboard's command line (README "The dashboard"), shared by `scripts/dashboard.ts` and
 * `duroxide dashboard`: reads the flags, starts `startDashboard`, serves until SIGINT/SIGTERM.
 * Exit status 0 when stopped, 2 for bad usage or options, 1 for anything else (a store that
 * cannot be opened prints its message only, like the CLI: docs/cli.md "Exit status").
 */
import { ConfigurationError, DuroxideError, ValidationError } from "../core/errors.ts";
import { seedDemoStore } from "./demo-store.ts";
import { DEFAULT_DASHBOARD_PORT } from "./options.ts";
import { startDashboard, type DashboardOptions } from "./server.ts";
import { SqliteProvider } from "../providers/sqlite.ts";
import { STORE_ENV } from "../tools/store-url.ts";
import { numberFlag, parseFlags, UsageError } from "../tools/cli-flags.ts";

const USAGE = `usage: bun run scripts/dashboard.ts --store URL [options]
       duroxide dashboard --store URL [options]

  --store URL       the store: sqlite:PATH, a file path, or postgres://user@host/db[?schema=NAME]
                    (default: $${STORE_ENV})
  --demo            serve an in-memory store with example instances instead of --store
  --port N          TCP port (default ${DEFAULT_DASHBOARD_PORT}; 0 picks a free one)
  --host ADDR       address to listen on (default 127.0.0.1); any other than loopback needs a token
  --token TOKEN     require this access token (16+ characters of A-Z a-z 0-9 . _ ~ -)
  --random-token    require a random access token (printed in the URL)
  --read-only       show everything, refuse every action (raise event, cancel, delete)
  --help            this text`;

async function serve(argv: string[]): Promise<number> {
  const flags = parseFlags(argv, {
    store: { type: "string" },
    demo: { type: "boolean" },
    port: { type: "string" },
    host: { type: "string" },
    token: { type: "string" },
    "random-token": { type: "boolean" },
    "read-only": { type: "boolean" },
    help: { type: "boolean" },
  });
  if (flags.help === true) {
    console.log(USAGE);
    return 0;
  }
  const port = numberFlag("--port", flags.port, { min: 0, max: 65535, integer: true, default: DEFAULT_DASHBOARD_PORT });
  const demo = flags.demo === true;
  const storeUrl = (flags.store as string | undefined) ?? (demo ? undefined : process.env[STORE_ENV]);
  if (demo && flags.store !== undefined) throw new UsageError("pass --store or --demo, not both");
  if (!demo && (storeUrl === undefined || storeUrl.trim() === "")) {
    throw new UsageError(`no store given: pass --store sqlite:./data.db (or postgres://...), set ${STORE_ENV}, or try --demo`);
  }

  const options: DashboardOptions = { port, readOnly: flags["read-only"] === true };
  if (flags.host !== undefined) options.host = flags.host as string;
  if (flags.token !== undefined) options.token = flags.token as string;
  if (flags["random-token"] === true) options.randomToken = true;

  let stopDemo = async () => {};
  if (demo) {
    const provider = await SqliteProvider.inMemory();
    const seeded = await seedDemoStore(provider);
    stopDemo = async () => {
      await seeded.stop();
      provider.close();
    };
    options.provider = provider;
  } else {
    options.store = storeUrl;
  }

  let dashboard;
  try {
    dashboard = await startDashboard(options);
  } catch (err) {
    await stopDemo();
    throw err;
  }
  console.log(`duroxide dashboard${dashboard.readOnly ? " (read-only)" : ""} on ${dashboard.url}`);
  if (dashboard.token !== null) console.log("open the URL above: it carries the access token (keep it private)");
  await new Promise<void>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  await dashboard.stop();
  await stopDemo();
  return 0;
}

/** Runs the dashboard command line; returns the exit status. Never throws: failures are printed. */
export async function dashboardCli(argv: string[]): Promise<number> {
  try {
    return await serve(argv);
  } catch (err) {
    if (err instanceof UsageError || err instanceof ConfigurationError || err instanceof ValidationError) {
      console.error(`dashboard: ${err.message}`);
      console.error("run with --help for the options");
      return 2;
    }
    if (err instanceof DuroxideError) {
      // A store that cannot be opened or reached (a directory, not a database, PostgreSQL down):
      // the message says what and what to check; a stack trace would only bury it.
      console.error(`dashboard: ${err.message}`);
      return 1;
    }
    console.error(err);
    return 1;
  }
}
