// The whole provider suite behind a wrapper that withholds every ProviderError message: the
// suite decides by error kind only, so a provider may word its messages as it likes.
import { expect, test } from "bun:test";
import { runAllTests } from "../../src/provider-tests/index.ts";
import { ProviderError } from "../../src/core/errors.ts";
import { SqliteProvider, sqliteSuiteFactory } from "../../src/providers/sqlite.ts";
import { withOpaqueErrors, OPAQUE_MESSAGE } from "./fixtures/opaque-errors.ts";

test("the wrapper really withholds messages and keeps kinds", async () => {
  const p = withOpaqueErrors(await SqliteProvider.inMemory());
  const err = await p.ackWorkItem("no-such-token", null).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(ProviderError);
  expect((err as ProviderError).message).toBe(OPAQUE_MESSAGE);
  expect((err as ProviderError).kind).toBe("LockLost");
  const gone = await p.asManagementCapability()!.getInstanceInfo("nope").catch((e: unknown) => e);
  expect((gone as ProviderError).message).toBe(OPAQUE_MESSAGE);
  expect((gone as ProviderError).kind).toBe("NotFound");
});

// The corruption hooks act on the SQLite provider behind the wrapper, so nothing is skipped.
const sqlite = sqliteSuiteFactory(() => SqliteProvider.inMemory());
await runAllTests({ ...sqlite, createProvider: async () => withOpaqueErrors(await sqlite.createProvider()) });
