/**
 * Every response the dashboard sends, with the headers that keep user data inert: a strict
 * Content-Security-Policy (scripts and styles only from our own routes, no inline script, no
 * framing), nosniff, no referrer. Data is only ever sent as JSON; the page puts it into the DOM as
 * text (static/app.js), so an instance id or payload containing HTML stays text.
 */
import { ClientError, DuroxideError, type ClientErrorCode } from "../core/errors.ts";

export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

const SECURITY_HEADERS: Record<string, string> = {
  "Content-Security-Policy": CONTENT_SECURITY_POLICY,
  "X-Content-Type-Options": "nosniff",
  "X-Frame-Options": "DENY",
  "Referrer-Policy": "no-referrer",
  "Cross-Origin-Opener-Policy": "same-origin",
  "Cross-Origin-Resource-Policy": "same-origin",
  "Cache-Control": "no-store",
};

export function withSecurityHeaders(headers: Record<string, string> = {}): Headers {
  return new Headers({ ...SECURITY_HEADERS, ...headers });
}

export function jsonResponse(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: withSecurityHeaders({ "Content-Type": "application/json; charset=utf-8", ...headers }),
  });
}

/** An error answer: `{ error: message }`, never HTML, so nothing in the message can run. */
export function errorResponse(status: number, message: string, code?: string): Response {
  return jsonResponse(code === undefined ? { error: message } : { error: message, code }, status);
}

/** A bad request the dashboard itself refuses (a missing field, a malformed query parameter). */
export class DashboardRequestError extends DuroxideError {
  override name = "DashboardRequestError";
}

const STATUS_OF_CLIENT_CODE: Record<ClientErrorCode, number> = {
  InvalidInput: 400,
  InstanceNotFound: 404,
  InstanceStillRunning: 409,
  CannotDeleteSubOrchestration: 409,
  ManagementNotAvailable: 501,
  Timeout: 504,
  Provider: 502,
};

/** Turns what a handler threw into an answer: Client refusals keep their code, bugs are 500s. */
export function responseForError(err: unknown): Response {
  if (err instanceof DashboardRequestError) return errorResponse(400, err.message);
  if (err instanceof ClientError) return errorResponse(STATUS_OF_CLIENT_CODE[err.code] ?? 500, err.message, err.code);
  return errorResponse(500, `internal error: ${err instanceof Error ? err.message : String(err)}`);
}
