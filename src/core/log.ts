import type { LogLevel } from '../config';

export interface LogEntry {
  level: LogLevel;
  event: string;
  sessionId?: string | undefined;
  traceId?: string | undefined;
  [field: string]: unknown;
}

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/**
 * Log lines are effects like any other, so the harness sees them and replays
 * stay deterministic. The level gate runs before the entry is built, so a
 * suppressed debug line costs one comparison.
 */
export class Logger {
  private readonly threshold: number;
  constructor(
    level: LogLevel,
    private readonly sink: (entry: LogEntry) => void,
  ) {
    this.threshold = RANK[level];
  }

  enabled(level: LogLevel): boolean {
    return RANK[level] >= this.threshold;
  }

  log(level: LogLevel, event: string, fields: Omit<LogEntry, 'level' | 'event'> = {}): void {
    if (RANK[level] < this.threshold) return;
    this.sink({ level, event, ...fields });
  }
}
