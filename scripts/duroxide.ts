#!/usr/bin/env bun
/**
 * duroxide: the operator CLI (docs/cli.md). `bunx duroxide list --store sqlite:./data.db`.
 * The commands live in src/cli/; this file only connects them to the process.
 */
import { runCli } from "../src/cli/main.ts";
import { dashboardCli } from "../src/dashboard/cli.ts";

// `duroxide dashboard` serves until stopped, so it is not one of the table's run-and-exit commands.
const argv = process.argv.slice(2);
if (argv[0] === "dashboard") process.exit(await dashboardCli(argv.slice(1)));

const code = await runCli(argv, {
  out: (text) => process.stdout.write(text.endsWith("\n") ? text : `${text}\n`),
  err: (text) => process.stderr.write(text.endsWith("\n") ? text : `${text}\n`),
  env: process.env,
  isTTY: process.stdout.isTTY === true,
});
process.exit(code);
