import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ValidationError } from "../../src/core/errors.ts";
import { SqliteProvider } from "../../src/providers/sqlite.ts";
import { openStoreUrl, parseStoreUrl, redactStoreUrl } from "../../src/tools/store-url.ts";

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

describe("a password in a store URL never reaches an error message", () => {
  test("a malformed postgres URL and an unknown scheme are refused without echoing the password", () => {
    for (const url of ["postgres://admin:s3cretPW@[bad/db", "mysql://admin:s3cretPW@host/db", "postgres://admin:s3cret/PW@[x/db?password=s3cretPW"]) {
      let message = "";
      try {
        parseStoreUrl(url);
      } catch (err) {
        message = (err as Error).message;
      }
      expect(message, url).toMatch(/store URL "[a-z]+:\/\/admin:\*\*\*@/);
      expect(message, url).not.toContain("s3cret");
    }
  });
  test("redactStoreUrl hides the user-info password and password= parameters, and leaves the rest", () => {
    expect(redactStoreUrl("postgres://u:p%40ss@h:5432/db?sslmode=disable")).toBe("postgres://u:***@h:5432/db?sslmode=disable");
    expect(redactStoreUrl("postgres://u@h/db?password=pw&sslmode=disable")).toBe("postgres://u@h/db?password=***&sslmode=disable");
    expect(redactStoreUrl("postgres://u@h:5432/db")).toBe("postgres://u@h:5432/db");
    expect(redactStoreUrl("sqlite:./data.db")).toBe("sqlite:./data.db");
  });
});

describe("openStoreUrl", () => {
  test("refuses a SQLite file that does not exist instead of creating it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "store-url-"));
    await expect(openStoreUrl(join(dir, "missing.db"))).rejects.toThrow(/does not exist/);
    expect(await Bun.file(join(dir, "missing.db")).exists()).toBe(false);
  });
  test("refuses a SQLite database that is not a duroxide store, and leaves it as it was", async () => {
    const dir = mkdtempSync(join(tmpdir(), "store-url-"));
    const path = join(dir, "other-app.db");
    const other = new Database(path);
    other.run("CREATE TABLE users (id INTEGER)");
    other.close();
    await expect(openStoreUrl(path)).rejects.toThrow(/not a duroxide store \(it has no "instances" table\)/);
    const after = new Database(path, { readonly: true });
    const tables = after.query("SELECT name FROM sqlite_master WHERE type = 'table'").all();
    const journal = after.query("PRAGMA journal_mode").get();
    after.close();
    expect(tables).toEqual([{ name: "users" }]);
    expect(journal).toEqual({ journal_mode: "delete" });
  });
  test("an empty file is not a store either", async () => {
    const dir = mkdtempSync(join(tmpdir(), "store-url-"));
    const path = join(dir, "empty.db");
    await Bun.write(path, "");
    await expect(openStoreUrl(path)).rejects.toThrow(/not a duroxide store/);
    expect(Bun.file(path).size).toBe(0);
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
