// The whole provider correctness suite against SQLite files (WAL, synchronous=NORMAL), one file
// per case, with the default long polling.
import { afterAll } from "bun:test";
import { runAllTests } from "../../src/provider-tests/index.ts";
import { sqliteFileFactory } from "./sqlite-factory.ts";

const factory = sqliteFileFactory();
afterAll(() => factory.cleanup());
await runAllTests(factory);
