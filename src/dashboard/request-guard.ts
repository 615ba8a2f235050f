/**
 * Who may talk to the dashboard, checked before any route runs. The dashboard can cancel and
 * delete instances, so a web page on another site must never be able to make the user's browser
 * do it (CSRF), nor read the store through a name that resolves to 127.0.0.1 (DNS rebinding):
 *
 * - Host: on loopback only `127.0.0.1`, `localhost` and `[::1]` at our port are answered; a
 *   rebound name (`evil.example`) is refused before anything is read.
 * - Token: when one is set, every request must carry it (cookie or `Authorization: Bearer`).
 * - State changes: POST only, with a JSON body (a cross-site form cannot send one without a
 *   preflight we never grant), and refused when `Origin` is not this dashboard's own origin or
 *   `Sec-Fetch-Site` says the request came from another site.
 */
import { readCookie, tokenCookieName, tokensEqual } from "./access-token.ts";

export interface GuardConfig {
  port: number;
  /** Bound to a loopback address: the Host header must name loopback. */
  loopback: boolean;
  token: string | null;
}

/** Why a request is refused: the HTTP status and a message saying what to do. */
export interface Refusal {
  status: 400 | 401 | 403 | 405 | 415;
  message: string;
}

const LOOPBACK_HOSTNAMES = new Set(["127.0.0.1", "localhost", "[::1]"]);

/** Checks the Host header (DNS rebinding) and the token; null when the request may be read. */
export function checkAccess(req: Request, cfg: GuardConfig): Refusal | null {
  const host = req.headers.get("host");
  if (host === null) return { status: 400, message: "missing Host header" };
  if (cfg.loopback && !isLoopbackHost(host, cfg.port)) {
    return {
      status: 403,
      message: `Host ${JSON.stringify(host)} is not this dashboard's loopback address; open http://127.0.0.1:${cfg.port}/ (names other than 127.0.0.1, localhost and [::1] are refused to stop DNS rebinding)`,
    };
  }
  if (cfg.token !== null && !hasToken(req, cfg.port, cfg.token)) {
    return { status: 401, message: "this dashboard needs its access token: open the URL with ?token=... printed at its start, or send Authorization: Bearer TOKEN" };
  }
  return null;
}

/** Checks a state-changing request: POST, JSON, and from this dashboard's own pages. */
export function checkStateChange(req: Request): Refusal | null {
  if (req.method !== "POST") return { status: 405, message: `actions need POST, got ${req.method}` };
  const type = req.headers.get("content-type") ?? "";
  if (!/^application\/json\s*(;|$)/i.test(type)) {
    return { status: 415, message: `actions take a JSON body (Content-Type: application/json), got ${JSON.stringify(type)}` };
  }
  const site = req.headers.get("sec-fetch-site");
  if (site !== null && site !== "same-origin") {
    return { status: 403, message: `cross-origin request refused (Sec-Fetch-Site: ${site}): actions are only accepted from the dashboard's own pages` };
  }
  const origin = req.headers.get("origin");
  // Browsers send Origin on every POST; a request without one comes from a non-browser client
  // (curl, a script), which no other web site can drive, and which still passed checkAccess.
  if (origin !== null && origin !== ownOrigin(req)) {
    return { status: 403, message: `cross-origin request refused (Origin: ${origin}): actions are only accepted from the dashboard's own pages` };
  }
  return null;
}

/** The origin of the dashboard as this request addressed it (Host was checked by checkAccess). */
export function ownOrigin(req: Request): string {
  return `http://${req.headers.get("host") ?? ""}`;
}

function isLoopbackHost(host: string, port: number): boolean {
  const m = /^(\[[^\]]*\]|[^:]+)(?::(\d+))?$/.exec(host.trim().toLowerCase());
  if (m === null) return false;
  const hostPort = m[2] === undefined ? 80 : Number(m[2]);
  return LOOPBACK_HOSTNAMES.has(m[1]!) && hostPort === port;
}

function hasToken(req: Request, port: number, token: string): boolean {
  const auth = req.headers.get("authorization");
  if (auth !== null && auth.startsWith("Bearer ") && tokensEqual(token, auth.slice("Bearer ".length).trim())) return true;
  if (tokensEqual(token, readCookie(req.headers.get("cookie"), tokenCookieName(port)))) return true;
  return tokensEqual(token, new URL(req.url).searchParams.get("token"));
}
