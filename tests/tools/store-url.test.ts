import { describe, expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ValidationError } from "../../src/core/errors.ts";
import { SqliteProvider } from "../../src/providers/sqlite.ts";
import { openStoreUrl, parseStoreUrl } from "../../src/tools/store-url.ts";

describe("parseStoreUrl", () => {
  test("sqlite: prefix and bare paths name a SQLite file", () => {
    expect(parseStoreUrl("sqlite:./data.db")).toEqual({ kind: "sqlite", path: "./data.db" });
    expect(parseStoreUrl("sqlite:///abs/x.db")).toEqual({ kind: "sqlite", path: "/abs/x.db" });
    expect(parseStoreUrl("/tmp/x.db")).toEqual({ kind: "sqlite", path: "/tmp/x.db" });
  });
  test("postgres URLs keep their parameters except schema", () => {
    expect(parseStoreUrl("postgres://u@h:5432/db?schema=s1&sslmode=disable")).toEqual({
      kind: "postgres",
      url: "postgres://u@h:5432/db?sslmode=disable",
      schema: "s1",
    });
    expect(parseStoreUrl("postgresql://u@h/db")).toEqual({ kind: "postgres", url: "postgresql://u@h/db" });
  });
  test("refuses missing, in-memory and unknown stores with a ValidationError that says what to pass", () => {
    expect(() => parseStoreUrl(undefined)).toThrow(ValidationError);
    expect(() => parseStoreUrl("")).toThrow(/--store/);
    expect(() => parseStoreUrl("sqlite::memory:")).toThrow(/in-memory/);
    expect(() => parseStoreUrl("mysql://h/db")).toThrow(/unknown scheme/);
  });
});

describe("openStoreUrl", () => {
  test("refuses a SQLite file that does not exist instead of creating it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "store-url-"));
    await expect(openStoreUrl(join(dir, "missing.db"))).rejects.toThrow(/does not exist/);
    expect(await Bun.file(join(dir, "missing.db")).exists()).toBe(false);
  });
  test("opens an existing SQLite file", async () => {
    const dir = mkdtempSync(join(tmpdir(), "store-url-"));
    const path = join(dir, "s.db");
    (await SqliteProvider.open(path)).close();
    const store = await openStoreUrl(`sqlite:${path}`);
    expect(store.name()).toBe("sqlite");
    await store.close();
  });
});
