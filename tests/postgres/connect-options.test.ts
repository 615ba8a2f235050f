/**
 * PostgresProvider.connect's options as resolved (no server): the documented defaults
 * (docs/provider-contract.md §16.1) and the refusal of a pool size out of range.
 */
import { describe, expect, test } from "bun:test";
import { ProviderError } from "../../src/core/errors.ts";
import { DEFAULT_POOL_MAX, resolveOptions } from "../../src/providers/postgres/options.ts";

describe("resolveOptions", () => {
  test("no options: the documented defaults", () => {
    expect(resolveOptions(undefined)).toEqual({
      schema: "duroxide",
      poolMax: 4,
      fallbackPollIntervalMs: 1000,
      connectTimeoutSeconds: 10,
      idleTimeoutSeconds: 60,
      listen: true,
      migrate: true,
      workerClaimAhead: 32,
    });
    expect(DEFAULT_POOL_MAX).toBe(4);
  });

  test("poolMax: a given size is kept; 0, a fraction and a string are refused, naming the option", () => {
    expect(resolveOptions({ poolMax: 1 }).poolMax).toBe(1);
    expect(resolveOptions({ poolMax: 40 }).poolMax).toBe(40);
    for (const bad of [0, 2.5, "6", 1001]) {
      let caught: unknown;
      try {
        resolveOptions({ poolMax: bad });
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(ProviderError);
      expect((caught as ProviderError).kind).toBe("InvalidArgument");
      expect((caught as Error).message).toContain("options.poolMax must be an integer from 1 to 1000");
    }
  });
});
