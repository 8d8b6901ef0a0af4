import { ConfigError, DEFAULT_CONFIG, parseEnv, type ConfigIssue, type HubConfig } from '../config';
import type { LogEntry } from '../core/log';

/**
 * The Durable Object's view of its config. An invalid config used to throw
 * from the constructor, so every event (an alarm is retried several times)
 * printed a raw stack trace. Instead the object keeps the issues, logs one
 * `config.invalid` line per instance (per wake), and each entry point asks
 * `refuse()` before doing any work.
 */
export class ConfigGuard {
  readonly config: HubConfig;
  readonly issues: ConfigIssue[] | null;
  private logged = false;

  constructor(
    env: Record<string, unknown>,
    private readonly log: (entry: LogEntry) => void,
  ) {
    try {
      this.config = parseEnv(env);
      this.issues = null;
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      // Never used to serve: refuse() stops every entry point first.
      this.config = DEFAULT_CONFIG;
      this.issues = err.issues;
    }
  }

  /** True when the config is invalid; the first call in this instance logs why. */
  refuse(during: string): boolean {
    if (!this.issues) return false;
    if (!this.logged) {
      this.logged = true;
      this.log({ level: 'error', event: 'config.invalid', during, issues: this.issues });
    }
    return true;
  }
}
