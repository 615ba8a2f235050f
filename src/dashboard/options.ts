/**
 * What `startDashboard` accepts, checked before anything listens: a bad option is a
 * ConfigurationError that says what was wrong and what to pass. The one rule that is about safety
 * rather than shape: an address other than loopback needs a token, because anyone who can reach
 * it could otherwise read the store and cancel or delete instances (request-guard.ts).
 */
import { ConfigurationError } from "../core/errors.ts";
import { describe } from "../core/describe.ts";
import type { Provider } from "../provider.ts";
import { generateToken, isWellFormedToken, TOKEN_RULE_TEXT } from "./access-token.ts";

export interface DashboardOptions {
  /** A store URL (src/tools/store-url.ts: `sqlite:PATH`, a path, `postgres://...`); opened at start, closed by stop(). */
  store?: string;
  /** An open provider instead of `store` (left open by stop()). */
  provider?: Provider;
  /** Address to listen on. Default 127.0.0.1 (loopback only). */
  host?: string;
  /** TCP port; 0 picks a free one. Default 8470. */
  port?: number;
  /** Shows everything but refuses every action (raise, cancel, delete). */
  readOnly?: boolean;
  /** Required on every request when set; required to listen on an address other than loopback. */
  token?: string;
  /** Generate a random token (printed in the URL `startDashboard` returns). */
  randomToken?: boolean;
  /** How often an open page of a running instance re-reads it, in ms. Default 1000. */
  refreshMs?: number;
}

export interface ResolvedDashboardOptions {
  source: { kind: "store"; url: string } | { kind: "provider"; provider: Provider };
  host: string;
  port: number;
  loopback: boolean;
  readOnly: boolean;
  token: string | null;
  refreshMs: number;
}

export const DEFAULT_DASHBOARD_PORT = 8470;
const KNOWN = ["store", "provider", "host", "port", "readOnly", "token", "randomToken", "refreshMs"];

const bad = (message: string) => new ConfigurationError(`startDashboard: ${message}`);

/** True for the addresses only this machine can reach. */
export function isLoopbackAddress(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "").toLowerCase();
  return h === "localhost" || h === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

export function resolveDashboardOptions(options: unknown): ResolvedDashboardOptions {
  if (typeof options !== "object" || options === null || Array.isArray(options)) {
    throw bad(`options must be an object like { store: "sqlite:./data.db" }, got ${describe(options)}`);
  }
  const o = options as DashboardOptions;
  const unknown = Object.keys(o).filter((k) => !KNOWN.includes(k));
  if (unknown.length > 0) throw bad(`unknown option(s) ${unknown.join(", ")} (known: ${KNOWN.join(", ")})`);

  if ((o.store === undefined) === (o.provider === undefined)) {
    throw bad("pass exactly one of store (a store URL such as sqlite:./data.db or postgres://user@host/db) and provider (an open Provider)");
  }
  if (o.store !== undefined && (typeof o.store !== "string" || o.store.trim() === "")) throw bad(`store must be a store URL string, got ${describe(o.store)}`);
  if (o.provider !== undefined && (typeof o.provider !== "object" || o.provider === null || typeof o.provider.asManagementCapability !== "function")) {
    throw bad(`provider must be a Provider (e.g. await SqliteProvider.open("./data.db")), got ${describe(o.provider)}`);
  }

  const host = o.host ?? "127.0.0.1";
  if (typeof host !== "string" || !/^(\[[0-9a-fA-F:.]+\]|[0-9a-fA-F:.]+|[A-Za-z0-9.-]+)$/.test(host)) {
    throw bad(`host must be an IP address or host name such as 127.0.0.1, got ${describe(host)}`);
  }
  const port = o.port ?? DEFAULT_DASHBOARD_PORT;
  if (typeof port !== "number" || !Number.isSafeInteger(port) || port < 0 || port > 65535) {
    throw bad(`port must be an integer from 0 to 65535 (0 picks a free port), got ${describe(port)}`);
  }
  if (o.readOnly !== undefined && typeof o.readOnly !== "boolean") throw bad(`readOnly must be true or false, got ${describe(o.readOnly)}`);
  if (o.randomToken !== undefined && typeof o.randomToken !== "boolean") throw bad(`randomToken must be true or false, got ${describe(o.randomToken)}`);
  if (o.token !== undefined && o.randomToken === true) throw bad("pass token or randomToken, not both");
  if (o.token !== undefined && !isWellFormedToken(o.token)) throw bad(`token must be ${TOKEN_RULE_TEXT}`);
  const refreshMs = o.refreshMs ?? 1000;
  if (typeof refreshMs !== "number" || !Number.isSafeInteger(refreshMs) || refreshMs < 100 || refreshMs > 3_600_000) {
    throw bad(`refreshMs must be an integer number of ms from 100 to 3600000, got ${describe(refreshMs)}`);
  }

  const token = o.token ?? (o.randomToken === true ? generateToken() : null);
  const loopback = isLoopbackAddress(host);
  if (!loopback && token === null) {
    throw bad(
      `host ${host} is not a loopback address: anyone who can reach it could read the store and cancel or delete instances. ` +
        "Pass a token (token / --token TOKEN, or randomToken / --random-token) or listen on 127.0.0.1",
    );
  }
  return {
    source: o.store !== undefined ? { kind: "store", url: o.store } : { kind: "provider", provider: o.provider! },
    host,
    port,
    loopback,
    readOnly: o.readOnly ?? false,
    token,
    refreshMs,
  };
}
