/**
 * The dashboard's actions: raise an event, cancel, delete. Each is the `Client` method of the same
 * name (docs/runtime-semantics.md §4.1, §4.4) with a JSON body; the Client validates ids, names and
 * payloads and refuses a delete of a running tree unless `force` is set. The request has already
 * passed the guard (request-guard.ts: POST, JSON, same origin, token) and the read-only check.
 */
import type { Client } from "../client.ts";
import { DashboardRequestError } from "./http-responses.ts";

export const ACTION_NAMES = ["raise-event", "cancel", "delete"] as const;
export type ActionName = (typeof ACTION_NAMES)[number];

export function isActionName(name: string): name is ActionName {
  return (ACTION_NAMES as readonly string[]).includes(name);
}

/** What each action accepts: field name → "required" or "optional". */
const FIELDS: Record<ActionName, Record<string, "required" | "optional">> = {
  "raise-event": { instanceId: "required", eventName: "required", data: "optional" },
  cancel: { instanceId: "required", reason: "optional" },
  delete: { instanceId: "required", force: "optional" },
};

/** Parses and checks the body, then runs the action; the result is what the page reports. */
export async function runAction(client: Client, action: ActionName, bodyText: string): Promise<Record<string, unknown>> {
  const body = parseBody(action, bodyText);
  const instanceId = stringField(action, body, "instanceId");
  switch (action) {
    case "raise-event": {
      const eventName = stringField(action, body, "eventName");
      await client.raiseEvent(instanceId, eventName, body.data ?? null);
      return { ok: true, message: `event ${eventName} raised` };
    }
    case "cancel": {
      const reason = body.reason === undefined ? "cancelled from the dashboard" : stringField(action, body, "reason");
      await client.cancelInstance(instanceId, reason);
      return { ok: true, message: "cancellation requested" };
    }
    case "delete": {
      if (body.force !== undefined && typeof body.force !== "boolean") throw new DashboardRequestError(`${action}: force must be true or false`);
      const result = await client.deleteInstance(instanceId, { force: body.force === true });
      return { ok: true, message: `deleted ${result.instances_deleted} instance(s)`, result };
    }
  }
}

function parseBody(action: ActionName, text: string): Record<string, unknown> {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (err) {
    throw new DashboardRequestError(`${action}: the body is not valid JSON (${(err as Error).message})`);
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new DashboardRequestError(`${action}: the body must be a JSON object with ${Object.keys(FIELDS[action]).join(", ")}`);
  }
  const fields = FIELDS[action];
  const unknown = Object.keys(body).filter((k) => !Object.hasOwn(fields, k));
  if (unknown.length > 0) throw new DashboardRequestError(`${action}: unknown field(s) ${unknown.join(", ")} (known: ${Object.keys(fields).join(", ")})`);
  return body as Record<string, unknown>;
}

function stringField(action: ActionName, body: Record<string, unknown>, name: string): string {
  const v = body[name];
  if (typeof v !== "string") throw new DashboardRequestError(`${action}: ${name} must be a string${v === undefined ? " (missing)" : ""}`);
  return v;
}
