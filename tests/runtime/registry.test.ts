import { describe, expect, test } from "bun:test";
import { ConfigurationError } from "../../src/core/errors.ts";
import {
  ActivityRegistry,
  OrchestrationRegistry,
  SYSCALL_ACTIVITY_PREFIX,
} from "../../src/runtime/registry.ts";

function expectConfigError(fn: () => unknown, ...fragments: string[]): void {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(ConfigurationError);
  for (const f of fragments) expect((caught as Error).message).toContain(f);
}

// Handlers whose bodies never run in these tests; `any` keeps them independent of the context types.
const orch = (tag: string) =>
  function* (_ctx: any, _input: any): Generator<any, string, any> {
    return tag;
  };
const act = async (_ctx: any, input: string) => `hi ${input}`;

describe("ActivityRegistry", () => {
  test("register, get, has, names", async () => {
    const reg = ActivityRegistry.builder()
      .register("Hello", act)
      .register("Sync", (_ctx, n: number) => n + 1)
      .build();
    expect(reg.has("Hello")).toBe(true);
    expect(reg.has("Nope")).toBe(false);
    expect(reg.get("Nope")).toBeUndefined();
    expect(reg.names()).toEqual(["Hello", "Sync"]);
    expect(reg.size).toBe(2);
    expect(await reg.get("Hello")!({} as any, "bun")).toBe("hi bun");
  });

  test("duplicate names are rejected", () => {
    expectConfigError(() => ActivityRegistry.builder().register("A", act).register("A", act), '"A"', "already registered");
  });

  test("names must be non-empty strings", () => {
    expectConfigError(() => ActivityRegistry.builder().register("", act), "activity name", "non-empty string");
    expectConfigError(() => ActivityRegistry.builder().register(42 as any, act), "activity name", "42");
  });

  test("handler must be a function, and not a generator", () => {
    expectConfigError(() => ActivityRegistry.builder().register("A", "nope" as any), '"A"', "must be a function");
    expectConfigError(() => ActivityRegistry.builder().register("A", undefined as any), "must be a function");
    expectConfigError(() => ActivityRegistry.builder().register("A", orch("x") as any), '"A"', "generator", "OrchestrationRegistry");
    expectConfigError(
      () => ActivityRegistry.builder().register("A", async function* () {} as any),
      "async generator",
    );
  });

  test("reserved system-call names need registerSystem", () => {
    const name = `${SYSCALL_ACTIVITY_PREFIX}new_guid`;
    expectConfigError(() => ActivityRegistry.builder().register(name, act), "reserved", SYSCALL_ACTIVITY_PREFIX);
    const reg = ActivityRegistry.builder().register("User", act).registerSystem(name, async () => "guid").build();
    expect(reg.has(name)).toBe(true);
    expectConfigError(() => ActivityRegistry.builder().registerSystem("plain", act), "must start with");
    expectConfigError(
      () => ActivityRegistry.builder().registerSystem(name, act).registerSystem(name, act),
      "already registered",
    );
  });

  test("built registry is independent of its builder", () => {
    const b = ActivityRegistry.builder().register("A", act);
    const reg = b.build();
    b.register("B", act);
    expect(reg.names()).toEqual(["A"]);
    expect(b.build().names()).toEqual(["A", "B"]);
  });

  test("toBuilder and merge compose registries", () => {
    const base = ActivityRegistry.builder().register("A", act).build();
    const extended = base.toBuilder().registerSystem(`${SYSCALL_ACTIVITY_PREFIX}utc_now_ms`, async () => 1).build();
    expect(extended.names()).toEqual(["A", `${SYSCALL_ACTIVITY_PREFIX}utc_now_ms`]);
    expect(base.names()).toEqual(["A"]);
    const merged = ActivityRegistry.builder().register("B", act).merge(extended).build();
    expect(merged.names()).toEqual(["B", "A", `${SYSCALL_ACTIVITY_PREFIX}utc_now_ms`]);
    expectConfigError(() => ActivityRegistry.builder().register("A", act).merge(base), '"A"', "already registered");
    expectConfigError(() => ActivityRegistry.builder().merge({} as any), "merge");
    expect(ActivityRegistry.empty().names()).toEqual([]);
  });
});

describe("OrchestrationRegistry", () => {
  test("register uses 1.0.0; Latest resolves the highest version", () => {
    const v1 = orch("v1");
    const v11 = orch("v1.1");
    const v2 = orch("v2");
    const reg = OrchestrationRegistry.builder()
      .register("Order", v1)
      .registerVersioned("Order", "1.1.0", v11)
      .registerVersioned("Order", "2.0.0", v2)
      .register("Other", orch("o"))
      .build();
    expect(reg.versions("Order")).toEqual(["1.0.0", "1.1.0", "2.0.0"]);
    expect(reg.resolve("Order")).toEqual({ version: "2.0.0", handler: v2 });
    expect(reg.resolve("Other")?.version).toBe("1.0.0");
    expect(reg.resolveExact("Order", "1.0.0")).toBe(v1);
    expect(reg.resolveExact("Order", "1.1.0")).toBe(v11);
    expect(reg.resolveExact("Order", "1.2.0")).toBeUndefined();
    expect(reg.resolveExact("Order", "garbage")).toBeUndefined();
    expect(reg.resolveExact("Nope", "1.0.0")).toBeUndefined();
    expect(reg.resolve("Nope")).toBeUndefined();
    expect(reg.versions("Nope")).toEqual([]);
    expect(reg.names()).toEqual(["Order", "Other"]);
    expect(reg.has("Order")).toBe(true);
    expect(reg.policy("Order")).toEqual({ type: "Latest" });
  });

  test("Exact policy pins new starts to that version", () => {
    const v1 = orch("v1");
    const reg = OrchestrationRegistry.builder()
      .setPolicy("Order", { type: "Exact", version: "1.0.0" })
      .register("Order", v1)
      .registerVersioned("Order", "1.1.0", orch("v1.1"))
      .build();
    expect(reg.resolve("Order")).toEqual({ version: "1.0.0", handler: v1 });
    expect(reg.policy("Order")).toEqual({ type: "Exact", version: "1.0.0" });
  });

  test("setPolicy Latest after Exact restores Latest", () => {
    const reg = OrchestrationRegistry.builder()
      .register("O", orch("1"))
      .registerVersioned("O", "3.0.0", orch("3"))
      .setPolicy("O", { type: "Exact", version: "1.0.0" })
      .setPolicy("O", { type: "Latest" })
      .build();
    expect(reg.resolve("O")?.version).toBe("3.0.0");
  });

  test("policy errors", () => {
    expectConfigError(
      () => OrchestrationRegistry.builder().register("O", orch("1")).setPolicy("O", { type: "Exact", version: "2.0.0" }).build(),
      "2.0.0",
      "not registered",
      "1.0.0",
    );
    expectConfigError(
      () => OrchestrationRegistry.builder().setPolicy("Missing", { type: "Latest" }).build(),
      '"Missing"',
      "no orchestration",
    );
    expectConfigError(
      () => OrchestrationRegistry.builder().setPolicy("O", { type: "Exact", version: "v1" }),
      "Exact policy",
      '"v1"',
    );
    expectConfigError(() => OrchestrationRegistry.builder().setPolicy("O", { type: "Newest" } as any), '"Newest"');
    expectConfigError(() => OrchestrationRegistry.builder().setPolicy("O", null as any), "policy must be");
  });

  test("versions must be strictly increasing per name", () => {
    expectConfigError(
      () => OrchestrationRegistry.builder().registerVersioned("O", "2.0.0", orch("2")).registerVersioned("O", "1.5.0", orch("1.5")),
      "strictly increasing",
      "1.5.0",
      "2.0.0",
    );
    expectConfigError(
      () => OrchestrationRegistry.builder().registerVersioned("O", "1.1.0", orch("a")).register("O", orch("b")),
      "strictly increasing",
    );
    expectConfigError(
      () => OrchestrationRegistry.builder().register("O", orch("a")).register("O", orch("b")),
      "1.0.0",
      "already registered",
    );
    expectConfigError(
      () => OrchestrationRegistry.builder().register("O", orch("a")).registerVersioned("O", "1.0.0", orch("b")),
      "already registered",
    );
    // numeric, not lexicographic: 1.10.0 > 1.9.0
    const reg = OrchestrationRegistry.builder()
      .registerVersioned("O", "1.9.0", orch("a"))
      .registerVersioned("O", "1.10.0", orch("b"))
      .build();
    expect(reg.resolve("O")?.version).toBe("1.10.0");
    // other names are independent
    expect(() =>
      OrchestrationRegistry.builder().registerVersioned("A", "2.0.0", orch("a")).register("B", orch("b")).build(),
    ).not.toThrow();
  });

  test("versions must be MAJOR.MINOR.PATCH", () => {
    for (const bad of ["1.0", "v1.0.0", "", "1.0.0.0", "a.b.c", "1.0.0-rc.1", "1.0.0+build", " 1.0.0", "01.0.0"]) {
      expectConfigError(() => OrchestrationRegistry.builder().registerVersioned("O", bad, orch("x")), '"O"', "MAJOR.MINOR.PATCH");
    }
    expectConfigError(() => OrchestrationRegistry.builder().registerVersioned("O", 1 as any, orch("x")), "MAJOR.MINOR.PATCH");
  });

  test("names must be non-empty strings", () => {
    expectConfigError(() => OrchestrationRegistry.builder().register("", orch("x")), "orchestration name", "non-empty");
    expectConfigError(() => OrchestrationRegistry.builder().register(null as any, orch("x")), "orchestration name", "null");
  });

  test("async functions and other non-generators are rejected with a usage hint", () => {
    const hint = "orchestrations are generator functions: use function* and yield* ctx.scheduleActivity(...)";
    expectConfigError(
      () => OrchestrationRegistry.builder().register("A", (async (_ctx: any) => 1) as any),
      '"A"',
      "an async function",
      hint,
    );
    expectConfigError(
      () => OrchestrationRegistry.builder().register("A", async function named(_ctx: any) { return 1; } as any),
      "an async function",
      hint,
    );
    expectConfigError(
      () => OrchestrationRegistry.builder().register("A", async function* (_ctx: any) {} as any),
      "an async generator function",
      hint,
    );
    expectConfigError(
      () => OrchestrationRegistry.builder().register("A", ((_ctx: any) => 1) as any),
      "a plain (non-generator) function",
      hint,
    );
    expectConfigError(
      () => OrchestrationRegistry.builder().register("A", function (_ctx: any) { return 1; } as any),
      "a plain (non-generator) function",
    );
    expectConfigError(() => OrchestrationRegistry.builder().register("A", { x: 1 } as any), "must be a generator function", hint);
    expectConfigError(() => OrchestrationRegistry.builder().register("A", undefined as any), "must be a generator function");
  });

  test("generator methods and named generators are accepted", () => {
    const holder = {
      *run(_ctx: any, _input: any): Generator<any, number, any> {
        return 1;
      },
    };
    function* named(_ctx: any): Generator<any, number, any> {
      return 2;
    }
    const reg = OrchestrationRegistry.builder().register("M", holder.run).register("N", named).build();
    expect(reg.resolve("M")?.handler).toBe(holder.run);
    expect(reg.resolve("N")?.handler).toBe(named);
  });

  test("toBuilder and merge keep versions and Exact policies", () => {
    const a1 = orch("a1");
    const base = OrchestrationRegistry.builder()
      .register("A", a1)
      .registerVersioned("A", "2.0.0", orch("a2"))
      .setPolicy("A", { type: "Exact", version: "1.0.0" })
      .build();
    const more = base.toBuilder().registerVersioned("A", "3.0.0", orch("a3")).register("B", orch("b")).build();
    expect(more.versions("A")).toEqual(["1.0.0", "2.0.0", "3.0.0"]);
    expect(more.resolve("A")).toEqual({ version: "1.0.0", handler: a1 });
    expect(base.versions("A")).toEqual(["1.0.0", "2.0.0"]);
    expect(base.has("B")).toBe(false);
    const merged = OrchestrationRegistry.builder().register("C", orch("c")).merge(base).build();
    expect(merged.names()).toEqual(["C", "A"]);
    expectConfigError(() => OrchestrationRegistry.builder().register("A", orch("x")).merge(base), "already registered");
    expect(OrchestrationRegistry.empty().names()).toEqual([]);
  });

  test("built registry is independent of its builder", () => {
    const b = OrchestrationRegistry.builder().register("A", orch("1"));
    const reg = b.build();
    b.registerVersioned("A", "2.0.0", orch("2"));
    expect(reg.versions("A")).toEqual(["1.0.0"]);
    expect(b.build().versions("A")).toEqual(["1.0.0", "2.0.0"]);
  });
});
