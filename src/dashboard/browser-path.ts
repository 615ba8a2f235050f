/**
 * Where the system Chromium is, for the browser tests and the screenshot script: `CHROMIUM_PATH`
 * when set, else Debian's /usr/bin/chromium (`.ci/run` installs it when missing). playwright-core
 * drives it through `executablePath`, so no browser is downloaded.
 */
import { existsSync } from "node:fs";

export const DEFAULT_CHROMIUM_PATH = "/usr/bin/chromium";

/** The browser to launch, or null with the reason it is missing. */
export function findChromium(): { path: string; missing: null } | { path: null; missing: string } {
  const configured = process.env.CHROMIUM_PATH;
  const path = configured !== undefined && configured !== "" ? configured : DEFAULT_CHROMIUM_PATH;
  if (existsSync(path)) return { path, missing: null };
  return {
    path: null,
    missing: `no Chromium at ${path}${configured ? " (CHROMIUM_PATH)" : ""}: apt-get install chromium, or set CHROMIUM_PATH`,
  };
}
