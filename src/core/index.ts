export * from "./admin-types.ts";
export * from "./error-details.ts";
export * from "./errors.ts";
export * from "./events.ts";
export * from "./queue-types.ts";
export * from "./semver.ts";
export * from "./work-items.ts";
