#!/usr/bin/env bun
/**
 * The large-payload stress scenario (docs/stress-tests.md §2):
 * `scripts/parallel_orchestrations.ts --large-payload`. Defaults: in-memory SQLite, 1/1, 5 in
 * flight, 10 s, 5 ms activities, 10/50/100 KB payloads, 20 activities + 5 child orchestrations per
 * instance. Accepts the same flags (see --help).
 */
import { main } from "./parallel_orchestrations.ts";

process.exit(await main(["--large-payload", ...Bun.argv.slice(2)]));
