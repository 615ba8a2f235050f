// The whole provider correctness suite against SQLite in memory (one fresh database per case),
// (it declares long polling itself), and once more for the polling module with long polling off.
import { runAllTests, runLongPollingTests } from "../../src/provider-tests/index.ts";
import { sqliteMemoryFactory } from "./sqlite-factory.ts";

await runAllTests(sqliteMemoryFactory());
await runLongPollingTests(sqliteMemoryFactory({ longPolling: false }));
