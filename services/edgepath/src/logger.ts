import { pino, type Logger } from "pino";
import type { LogLevel } from "@edgepath/config";

/** One structured logger per process (JSON lines on stdout, pino). */
export function createLogger(level: LogLevel, base: Record<string, string>): Logger {
  return pino({ level, base, timestamp: pino.stdTimeFunctions.isoTime });
}
