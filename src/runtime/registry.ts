/**
 * Handler registries (docs/runtime-semantics.md §2.12). Built once with a builder, immutable
 * afterwards.
 *
 *   ActivityRegistry.builder().register("Hello", async (ctx, name) => `Hello, ${name}!`).build()
 *   OrchestrationRegistry.builder()
 *     .register("Order", function* (ctx, input) { ... })            // version 1.0.0
 *     .registerVersioned("Order", "1.1.0", function* (ctx, input) { ... })
 *     .setPolicy("Order", { type: "Exact", version: "1.0.0" })        // default: Latest
 *     .build()
 *
 * Activities have one handler per name. Orchestrations map name → semver → handler; new starts
 * resolve through the name's policy, running executions resolve their pinned version exactly.
 */
import { ConfigurationError } from "../core/errors.ts";
import { describe } from "../core/describe.ts";
import { compareSemver, formatSemver, SEMVER_RULE, tryParseSemver, type Semver } from "../core/semver.ts";
import type { ActivityHandler, OrchestrationHandler } from "./handler-types.ts";

/** Activity names with this prefix are the runtime's built-in system calls (newGuid, utcNow, ...). */
export const SYSCALL_ACTIVITY_PREFIX = "__duroxide_syscall:";

/** The version `register` gives an orchestration. */
export const DEFAULT_ORCHESTRATION_VERSION = "1.0.0";

/** How `OrchestrationRegistry.resolve(name)` picks a version for a new start. */
export type VersionPolicy = { type: "Latest" } | { type: "Exact"; version: string };

// --- activities ------------------------------------------------------------------------------

let newActivityRegistry: (handlers: Map<string, ActivityHandler>) => ActivityRegistry;
let newOrchestrationRegistry: (
  entries: Map<string, VersionEntry[]>,
  policies: Map<string, VersionPolicy>,
) => OrchestrationRegistry;

export class ActivityRegistry {
  static {
    newActivityRegistry = (handlers) => new ActivityRegistry(new Map(handlers));
  }

  readonly #handlers: ReadonlyMap<string, ActivityHandler>;

  private constructor(handlers: Map<string, ActivityHandler>) {
    this.#handlers = handlers;
  }

  static builder(): ActivityRegistryBuilder {
    return new ActivityRegistryBuilder();
  }

  /** A registry with no activities. */
  static empty(): ActivityRegistry {
    return new ActivityRegistry(new Map());
  }

  get(name: string): ActivityHandler | undefined {
    return this.#handlers.get(name);
  }

  has(name: string): boolean {
    return this.#handlers.has(name);
  }

  /** Registered names in registration order (system activities included). */
  names(): string[] {
    return [...this.#handlers.keys()];
  }

  get size(): number {
    return this.#handlers.size;
  }

  /** A builder pre-filled with this registry's activities (e.g. to add system activities). */
  toBuilder(): ActivityRegistryBuilder {
    const b = new ActivityRegistryBuilder();
    for (const [name, fn] of this.#handlers) b.addChecked(name, fn, true);
    return b;
  }
}

export class ActivityRegistryBuilder {
  readonly #handlers = new Map<string, ActivityHandler>();

  /** Registers an activity: an (async) function `(ctx, input) => output`. One handler per name. */
  register<In = any, Out = any>(name: string, handler: ActivityHandler<In, Out>): this {
    checkName("activity", name);
    if (name.startsWith(SYSCALL_ACTIVITY_PREFIX)) {
      throw new ConfigurationError(
        `activity name "${name}" is reserved: names starting "${SYSCALL_ACTIVITY_PREFIX}" belong to the runtime's system calls`,
      );
    }
    this.addChecked(name, handler as ActivityHandler, false);
    return this;
  }

  /** @internal The runtime registers its built-in system-call activities through this. */
  registerSystem(name: string, handler: ActivityHandler): this {
    checkName("activity", name);
    if (!name.startsWith(SYSCALL_ACTIVITY_PREFIX)) {
      throw new ConfigurationError(`system activity name "${name}" must start with "${SYSCALL_ACTIVITY_PREFIX}"`);
    }
    this.addChecked(name, handler, true);
    return this;
  }

  /** Adds every activity of `other` (duplicates are errors). */
  merge(other: ActivityRegistry): this {
    if (!(other instanceof ActivityRegistry)) {
      throw new ConfigurationError("ActivityRegistryBuilder.merge expects a built ActivityRegistry");
    }
    for (const name of other.names()) this.addChecked(name, other.get(name)!, true);
    return this;
  }

  build(): ActivityRegistry {
    return newActivityRegistry(this.#handlers);
  }

  /** @internal */
  addChecked(name: string, handler: ActivityHandler, allowReserved: boolean): void {
    if (!allowReserved && name.startsWith(SYSCALL_ACTIVITY_PREFIX)) {
      throw new ConfigurationError(`activity name "${name}" is reserved`);
    }
    if (typeof handler !== "function") {
      throw new ConfigurationError(
        `activity "${name}": handler must be a function (ctx, input) => output, got ${describe(handler)}`,
      );
    }
    const kind = functionKind(handler);
    if (kind === "GeneratorFunction" || kind === "AsyncGeneratorFunction") {
      throw new ConfigurationError(
        `activity "${name}": handler is a ${kind === "GeneratorFunction" ? "generator" : "async generator"} function; ` +
          `activities are ordinary (async) functions. Did you mean OrchestrationRegistry.builder().register(...)?`,
      );
    }
    if (this.#handlers.has(name)) {
      throw new ConfigurationError(`activity "${name}" is already registered (one handler per name)`);
    }
    this.#handlers.set(name, handler);
  }
}

// --- orchestrations --------------------------------------------------------------------------

interface VersionEntry {
  semver: Semver;
  version: string;
  handler: OrchestrationHandler;
}

export interface ResolvedOrchestration {
  version: string;
  handler: OrchestrationHandler;
}

export class OrchestrationRegistry {
  static {
    newOrchestrationRegistry = (entries, policies) => {
      const copy = new Map<string, VersionEntry[]>();
      for (const [name, list] of entries) copy.set(name, [...list]);
      return new OrchestrationRegistry(copy, new Map(policies));
    };
  }

  /** name → versions in ascending order. */
  readonly #entries: ReadonlyMap<string, readonly VersionEntry[]>;
  readonly #policies: ReadonlyMap<string, VersionPolicy>;

  private constructor(entries: Map<string, VersionEntry[]>, policies: Map<string, VersionPolicy>) {
    this.#entries = entries;
    this.#policies = policies;
  }

  static builder(): OrchestrationRegistryBuilder {
    return new OrchestrationRegistryBuilder();
  }

  /** A registry with no orchestrations. */
  static empty(): OrchestrationRegistry {
    return new OrchestrationRegistry(new Map(), new Map());
  }


  /** The handler a new start (or continue-as-new without a version) uses, per the name's policy. */
  resolve(name: string): ResolvedOrchestration | undefined {
    const list = this.#entries.get(name);
    if (list === undefined || list.length === 0) return undefined;
    const policy = this.#policies.get(name) ?? { type: "Latest" };
    if (policy.type === "Latest") {
      const last = list[list.length - 1]!;
      return { version: last.version, handler: last.handler };
    }
    const handler = this.resolveExact(name, policy.version);
    return handler === undefined ? undefined : { version: policy.version, handler };
  }

  /** The handler of exactly `version` (e.g. the version pinned in OrchestrationStarted). */
  resolveExact(name: string, version: string): OrchestrationHandler | undefined {
    const list = this.#entries.get(name);
    if (list === undefined) return undefined;
    const want = tryParseSemver(version);
    if (want === undefined) return undefined;
    return list.find((e) => compareSemver(e.semver, want) === 0)?.handler;
  }

  has(name: string): boolean {
    return this.#entries.has(name);
  }

  /** Registered versions of `name`, ascending ([] when unknown). */
  versions(name: string): string[] {
    return (this.#entries.get(name) ?? []).map((e) => e.version);
  }

  /** The policy of `name` (Latest unless set). */
  policy(name: string): VersionPolicy {
    return this.#policies.get(name) ?? { type: "Latest" };
  }

  /** Registered names in registration order. */
  names(): string[] {
    return [...this.#entries.keys()];
  }

  get size(): number {
    return this.#entries.size;
  }

  /** A builder pre-filled with this registry's versions and policies. */
  toBuilder(): OrchestrationRegistryBuilder {
    return new OrchestrationRegistryBuilder().merge(this);
  }
}

export class OrchestrationRegistryBuilder {
  readonly #entries = new Map<string, VersionEntry[]>();
  readonly #policies = new Map<string, VersionPolicy>();

  /** Registers `handler` (a generator function) as version 1.0.0 of `name`. */
  register<In = any, Out = any>(name: string, handler: OrchestrationHandler<In, Out>): this {
    return this.registerVersioned(name, DEFAULT_ORCHESTRATION_VERSION, handler);
  }

  /**
   * Registers `handler` as `version` of `name` ("MAJOR.MINOR.PATCH", the rule clients and
   * contexts apply too: no pre-release or build suffix). Versions of one name must be registered
   * in strictly increasing order.
   */
  registerVersioned<In = any, Out = any>(name: string, version: string, handler: OrchestrationHandler<In, Out>): this {
    checkName("orchestration", name);
    const semver = tryParseSemver(version);
    if (semver === undefined) {
      throw new ConfigurationError(`orchestration "${name}": version must be ${SEMVER_RULE}, got ${describe(version)}`);
    }
    checkOrchestrationHandler(name, handler);
    const list = this.#entries.get(name) ?? [];
    const last = list[list.length - 1];
    if (last !== undefined && compareSemver(semver, last.semver) <= 0) {
      throw new ConfigurationError(
        compareSemver(semver, last.semver) === 0
          ? `orchestration "${name}" version ${formatSemver(semver)} is already registered`
          : `orchestration "${name}": versions must be registered in strictly increasing order, ` +
              `but ${formatSemver(semver)} comes after ${last.version}`,
      );
    }
    list.push({ semver, version: formatSemver(semver), handler: handler as OrchestrationHandler });
    this.#entries.set(name, list);
    return this;
  }

  /** Chooses which version new starts of `name` use: `{ type: "Latest" }` (default) or `{ type: "Exact", version }`. */
  setPolicy(name: string, policy: VersionPolicy): this {
    checkName("orchestration", name);
    if (typeof policy !== "object" || policy === null) {
      throw new ConfigurationError(
        `orchestration "${name}": policy must be { type: "Latest" } or { type: "Exact", version: "1.0.0" }`,
      );
    }
    if (policy.type === "Latest") {
      this.#policies.set(name, { type: "Latest" });
    } else if (policy.type === "Exact") {
      const semver = tryParseSemver(policy.version);
      if (semver === undefined) {
        throw new ConfigurationError(`orchestration "${name}": Exact policy needs a version ${SEMVER_RULE}, got ${describe(policy.version)}`);
      }
      this.#policies.set(name, { type: "Exact", version: formatSemver(semver) });
    } else {
      throw new ConfigurationError(
        `orchestration "${name}": unknown policy type ${describe((policy as { type?: unknown }).type)}; use "Latest" or "Exact"`,
      );
    }
    return this;
  }

  /** Adds every version and policy of `other`; versions per name must still be strictly increasing. */
  merge(other: OrchestrationRegistry): this {
    if (!(other instanceof OrchestrationRegistry)) {
      throw new ConfigurationError("OrchestrationRegistryBuilder.merge expects a built OrchestrationRegistry");
    }
    for (const name of other.names()) {
      for (const version of other.versions(name)) this.registerVersioned(name, version, other.resolveExact(name, version)!);
      const policy = other.policy(name);
      if (policy.type === "Exact") this.setPolicy(name, policy);
    }
    return this;
  }

  /** Checks that every policy names a registered orchestration version, then freezes the registry. */
  build(): OrchestrationRegistry {
    for (const [name, policy] of this.#policies) {
      const list = this.#entries.get(name);
      if (list === undefined) {
        throw new ConfigurationError(`setPolicy("${name}", ...): no orchestration named "${name}" is registered`);
      }
      if (policy.type === "Exact" && !list.some((e) => e.version === policy.version)) {
        throw new ConfigurationError(
          `setPolicy("${name}", Exact ${policy.version}): that version is not registered (registered: ${list.map((e) => e.version).join(", ")})`,
        );
      }
    }
    return newOrchestrationRegistry(this.#entries, this.#policies);
  }
}

// --- helpers ---------------------------------------------------------------------------------

const GENERATOR_HINT =
  "orchestrations are generator functions: use function* and yield* ctx.scheduleActivity(...), " +
  "e.g. register(name, function* (ctx, input) { return yield* ctx.scheduleActivity(\"Act\", input); })";

function checkOrchestrationHandler(name: string, handler: unknown): void {
  if (typeof handler !== "function") {
    throw new ConfigurationError(`orchestration "${name}": handler must be a generator function, got ${describe(handler)}; ${GENERATOR_HINT}`);
  }
  const kind = functionKind(handler);
  if (kind === "GeneratorFunction") return;
  const what =
    kind === "AsyncFunction"
      ? "an async function"
      : kind === "AsyncGeneratorFunction"
        ? "an async generator function"
        : "a plain (non-generator) function";
  throw new ConfigurationError(`orchestration "${name}": handler is ${what}; ${GENERATOR_HINT}`);
}

/** "Function" | "AsyncFunction" | "GeneratorFunction" | "AsyncGeneratorFunction". */
function functionKind(fn: Function): string {
  const tag = Object.prototype.toString.call(fn).slice(8, -1);
  if (tag !== "Function") return tag;
  // Transpiled or exotic functions may not carry the tag; fall back to the constructor name.
  return fn.constructor?.name ?? "Function";
}

function checkName(kind: string, name: unknown): asserts name is string {
  if (typeof name !== "string" || name.length === 0) {
    throw new ConfigurationError(`${kind} name must be a non-empty string, got ${describe(name)}`);
  }
}
