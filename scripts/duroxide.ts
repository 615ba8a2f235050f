#!/usr/bin/env bun
/**
 * duroxide: the operator CLI (docs/cli.md). `bunx duroxide list --store sqlite:./data.db`.
 * The commands live in src/cli/; this file only connects them to the process.
 */
import { runCli } from "../src/cli/main.ts";

const code = await runCli(process.argv.slice(2), {
  out: (text) => process.stdout.write(text.endsWith("\n") ? text : `${text}\n`),
  err: (text) => process.stderr.write(text.endsWith("\n") ? text : `${text}\n`),
  env: process.env,
  isTTY: process.stdout.isTTY === true,
});
process.exit(code);
