/**
 * The dashboard's access token: required on every request when the dashboard listens on an
 * address other than loopback (anyone on the network could reach it), optional on loopback.
 * A browser presents it once as `?token=` (the URL printed at start); the server answers with an
 * HttpOnly, SameSite=Strict cookie so the token leaves the address bar and is never readable by
 * page scripts or sent by another site. Scripts may send `Authorization: Bearer TOKEN` instead.
 */
import { timingSafeEqual } from "node:crypto";

/** Tokens are URL- and cookie-safe text, long enough not to be guessed. */
const TOKEN_RULE = /^[A-Za-z0-9._~-]{16,256}$/;

/** What a token must look like, for error messages. */
export const TOKEN_RULE_TEXT = "16 to 256 characters of A-Z, a-z, 0-9, '.', '_', '~' or '-'";

/** A fresh random token (32 bytes, base64url). */
export function generateToken(): string {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64url");
}

export function isWellFormedToken(token: unknown): token is string {
  return typeof token === "string" && TOKEN_RULE.test(token);
}

/** Compares in constant time, so response timing does not reveal how much of a guess was right. */
export function tokensEqual(expected: string, given: string | null | undefined): boolean {
  if (typeof given !== "string") return false;
  const a = Buffer.from(expected);
  const b = Buffer.from(given);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The cookie's name includes the port: cookies are per host, not per port, and two dashboards may share a host. */
export function tokenCookieName(port: number): string {
  return `duroxide_dashboard_${port}`;
}

/** The value of one cookie in a Cookie header, or null. */
export function readCookie(header: string | null, name: string): string | null {
  if (header === null) return null;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return null;
}
