// The whole provider correctness suite against PostgreSQL, every hook, one fresh schema per case.
import { test } from "bun:test";
import { postgresSuiteFactory } from "../../src/providers/postgres.ts";
import { runAllTests } from "../../src/provider-tests/index.ts";
import { postgresForTests } from "./postgres-server.ts";

const pg = await postgresForTests();
if (pg.url === null) test.skip(`PostgreSQL provider suite [skipped: ${pg.reason}]`, () => {});
else await runAllTests(postgresSuiteFactory(pg.url, { poolMax: 4 }), { shortPollThresholdMs: 250 });
