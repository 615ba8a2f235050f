/**
 * The default logger: lines at or above a level to the console, in the `pretty` or `json` format
 * (log-format.ts; docs/runtime-semantics.md §10). Debug and info go to `console.debug` /
 * `console.info` (stdout), warn to `console.warn` and error to `console.error` (stderr); pretty
 * lines are coloured only when that stream is a terminal and `NO_COLOR` is not set.
 */
import { describe } from "../../core/describe.ts";
import { ConfigurationError } from "../../core/errors.ts";
import { shouldLog, type Logger, type LogLevel } from "../options.ts";
import { colorWanted, formatJsonLine, formatPrettyLine, LOG_FORMATS, type LogFormat } from "./log-format.ts";

export interface ConsoleLoggerOptions {
  /** `"pretty"` (default) or `"json"` (one object per line). */
  format?: LogFormat;
  /** Force colours on or off for pretty lines; default: on for a terminal unless NO_COLOR is set. */
  color?: boolean;
}

export function consoleLogger(level: LogLevel | "off" = "info", options: ConsoleLoggerOptions = {}): Logger {
  if (typeof options !== "object" || options === null) throw new ConfigurationError(`consoleLogger options must be an object { format?, color? }, got ${describe(options)}`);
  const format = options.format ?? "pretty";
  if (!LOG_FORMATS.includes(format)) throw new ConfigurationError(`log format must be "pretty" or "json", got ${describe(format)}`);
  if (options.color !== undefined && typeof options.color !== "boolean") throw new ConfigurationError(`consoleLogger color must be a boolean, got ${describe(options.color)}`);
  // Decided once: the streams do not change while the process runs.
  const colorOut = format === "pretty" && (options.color ?? colorWanted(process.stdout));
  const colorErr = format === "pretty" && (options.color ?? colorWanted(process.stderr));
  return {
    log(lineLevel, message, fields) {
      if (!shouldLog(lineLevel, level)) return;
      const toErr = lineLevel === "warn" || lineLevel === "error";
      const line = format === "json" ? formatJsonLine(lineLevel, message, fields) : formatPrettyLine(lineLevel, message, fields, toErr ? colorErr : colorOut);
      switch (lineLevel) {
        case "error":
          console.error(line);
          break;
        case "warn":
          console.warn(line);
          break;
        case "info":
          console.info(line);
          break;
        default:
          console.debug(line);
      }
    },
  };
}
