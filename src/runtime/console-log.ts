import type { LogEntry } from '../core/log';
import type { IdSource } from '../core/turn';

/** One JSON line per entry on the console, where Workers Logs picks it up (docs/OPERATIONS.md, "Logs"). */
export const writeLog = (entry: LogEntry): void => {
  const line = JSON.stringify({ time: new Date().toISOString(), ...entry });
  if (entry.level === 'error') console.error(line);
  else if (entry.level === 'warn') console.warn(line);
  else console.log(line);
};

/** Ids and tokens of the real hub: random; the harness uses seeded ones. */
export const randomIds: IdSource = {
  id: () => crypto.randomUUID(),
  token: () => {
    const bytes = crypto.getRandomValues(new Uint8Array(24));
    return btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  },
};
