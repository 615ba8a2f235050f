import { describe, expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigurationError } from "../../src/core/errors.ts";
import { isLoopbackAddress, resolveDashboardOptions } from "../../src/dashboard/options.ts";
import { startDashboard } from "../../src/dashboard/server.ts";
import { MemoryProvider } from "../../src/providers/memory.ts";

const provider = await MemoryProvider.create();

describe("dashboard options", () => {
  test("defaults: loopback 127.0.0.1, no token, actions allowed", () => {
    const o = resolveDashboardOptions({ provider });
    expect(o).toMatchObject({ host: "127.0.0.1", loopback: true, token: null, readOnly: false, port: 8470 });
  });

  test("an address other than loopback without a token is refused with what to do", () => {
    expect(() => resolveDashboardOptions({ provider, host: "0.0.0.0" })).toThrow(ConfigurationError);
    expect(() => resolveDashboardOptions({ provider, host: "0.0.0.0" })).toThrow(/not a loopback address.*--token TOKEN.*--random-token.*127\.0\.0\.1/);
    expect(resolveDashboardOptions({ provider, host: "0.0.0.0", token: "a-long-enough-token-1234" })).toMatchObject({ loopback: false, token: "a-long-enough-token-1234" });
    const random = resolveDashboardOptions({ provider, host: "192.168.1.5", randomToken: true });
    expect(random.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(resolveDashboardOptions({ provider, host: "192.168.1.5", randomToken: true }).token).not.toBe(random.token);
  });

  test("loopback addresses are 127.0.0.0/8, ::1 and localhost only", () => {
    for (const h of ["127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost"]) expect(isLoopbackAddress(h)).toBe(true);
    for (const h of ["0.0.0.0", "::", "10.0.0.1", "localhost.evil.example", "128.0.0.1"]) expect(isLoopbackAddress(h)).toBe(false);
  });

  test("bad values are refused naming the option", () => {
    const bad: [unknown, RegExp][] = [
      [null, /options must be an object/],
      [{}, /exactly one of store .* and provider/],
      [{ provider, store: "x.db" }, /exactly one of store/],
      [{ provider: { name: "not a provider" } }, /provider must be a Provider/],
      [{ provider, port: -1 }, /port must be an integer from 0 to 65535/],
      [{ provider, port: 70000 }, /port must be/],
      [{ provider, port: 1.5 }, /port must be/],
      [{ provider, host: "a b" }, /host must be/],
      [{ provider, token: "short" }, /token must be 16 to 256 characters/],
      [{ provider, token: "has spaces in it, many!!" }, /token must be/],
      [{ provider, token: "a-long-enough-token-1234", randomToken: true }, /not both/],
      [{ provider, readOnly: "yes" }, /readOnly must be true or false/],
      [{ provider, refreshMs: 5 }, /refreshMs must be/],
      [{ provider, colour: "red" }, /unknown option\(s\) colour/],
    ];
    for (const [options, message] of bad) expect(() => resolveDashboardOptions(options)).toThrow(message);
  });

  test("startDashboard refuses a store URL naming a missing SQLite file, and creates nothing", async () => {
    const path = join(mkdtempSync(join(tmpdir(), "dashboard-")), "missing.db");
    await expect(startDashboard({ store: `sqlite:${path}`, port: 0 })).rejects.toThrow(/does not exist/);
    expect(await Bun.file(path).exists()).toBe(false);
  });

  test("startDashboard refuses a port that is taken, saying to pick another", async () => {
    const first = await startDashboard({ provider, port: 0 });
    try {
      await expect(startDashboard({ provider, port: first.port })).rejects.toThrow(/cannot listen on 127\.0\.0\.1:\d+.*--port/);
    } finally {
      await first.stop();
    }
  });
});
