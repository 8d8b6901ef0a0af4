import type { LogEntry } from '../core/log';
import type { IdSource } from '../core/turn';

/** Message ids drawn from one random prefix before a new one is taken (2^32 of the 2^48 the last group holds). */
const MESSAGE_RUN = 2 ** 32;

/** One JSON line per entry on the console, where Workers Logs picks it up (docs/OPERATIONS.md, "Logs"). */
export const writeLog = (entry: LogEntry): void => {
  const line = JSON.stringify({ time: new Date().toISOString(), ...entry });
  if (entry.level === 'error') console.error(line);
  else if (entry.level === 'warn') console.warn(line);
  else console.log(line);
};

/** Random UUID fields of the current message-id run, and how far the run has counted. */
let runPrefix = '';
let runCount = MESSAGE_RUN;

/**
 * Ids and tokens of the real hub: random; the harness uses seeded ones.
 *
 * Message ids (every frame the hub writes: replies, forwarded messages) only
 * need to be unique, and a crypto.randomUUID() per frame was a measurable
 * part of a routed tell (issue 11). So a run of them shares the random first
 * four groups of one randomUUID() (74 random bits, version 4 and its variant
 * kept) and counts in the last group: still UUID-shaped, as the contract
 * recommends, and unique while no two runs draw the same random part. A new
 * run starts after MESSAGE_RUN ids and in every new isolate. Ids that other
 * requests name (sessions, subscriptions, topic epochs) stay fully random.
 */
export const randomIds: IdSource = {
  id: () => crypto.randomUUID(),
  messageId: () => {
    if (runCount >= MESSAGE_RUN) {
      runPrefix = crypto.randomUUID().slice(0, 24);
      runCount = 0;
    }
    return runPrefix + (runCount++).toString(16).padStart(12, '0');
  },
  token: () => {
    const bytes = crypto.getRandomValues(new Uint8Array(24));
    return btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  },
};
