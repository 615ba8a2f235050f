/**
 * capabilities: what a provider declares about itself must be well-formed and true, because the
 * suite and the runtime act on it instead of on flags from the caller (docs/provider-contract.md
 * §10). Also the identity methods every provider has.
 */
import { expect } from "bun:test";
import type { ProviderCapabilities } from "../provider.ts";
import type { ProviderModule } from "./harness.ts";

const KNOWN: readonly (keyof ProviderCapabilities)[] = ["longPolling", "management", "multiProcess", "crossProcessWakeups", "terminalWakeups"];

export const capabilities: ProviderModule = {
  name: "capabilities",
  cases: [
    {
      name: "capabilities(), when present, returns an object of boolean flags (unknown fields are allowed, known ones must be booleans)",
      async run(ctx) {
        const p = await ctx.createProvider();
        if (typeof p.capabilities !== "function") return; // optional: absent means every flag is false but management (probed)
        const caps = p.capabilities();
        expect(typeof caps).toBe("object");
        expect(caps).not.toBeNull();
        for (const k of KNOWN) {
          if (caps[k] !== undefined) expect(typeof caps[k]).toBe("boolean");
        }
        // Stable: the same answer every time (the suite and the runtime may ask more than once).
        expect(p.capabilities()).toEqual(caps);
      },
    },
    {
      name: "a declared management capability agrees with asManagementCapability(): true means it returns an admin, false means null",
      async run(ctx) {
        const p = await ctx.createProvider();
        const declared = typeof p.capabilities === "function" ? p.capabilities().management : undefined;
        const admin = p.asManagementCapability();
        if (declared === true) expect(admin).not.toBeNull();
        if (declared === false) expect(admin).toBeNull();
        if (admin !== null) expect(typeof admin.listInstances).toBe("function");
      },
    },
    {
      name: "name() and version() are non-empty strings (diagnostics and stress tables show them)",
      async run(ctx) {
        const p = await ctx.createProvider();
        expect(typeof p.name()).toBe("string");
        expect(p.name().length).toBeGreaterThan(0);
        expect(typeof p.version()).toBe("string");
        expect(p.version().length).toBeGreaterThan(0);
      },
    },
  ],
};
