// The whole provider correctness suite against SQLite in memory (one fresh database per case).
import { runAllTests } from "../../src/provider-tests/index.ts";
import { sqliteMemoryFactory } from "./sqlite-factory.ts";

await runAllTests(sqliteMemoryFactory());
