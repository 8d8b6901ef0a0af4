import { DurableObject } from 'cloudflare:workers';

/**
 * The hubs this Worker knows of, for /metrics, deep health and shutdown of
 * every hub. Durable Objects cannot be listed, so each hub adds its own name
 * here the first time a session opens on it (and remembers in its own storage
 * that it did, so this object hears from a hub once, not once per connection).
 *
 * One object holds the whole list: it is written once per hub ever created
 * and read once per scrape, far below the ~1 000 requests a second one
 * object can serve.
 */

/** The single directory instance's name. */
export const DIRECTORY_NAME = 'hub-directory';

/** More hubs than this are not scraped in one request; /metrics/<hub> still reaches any of them. */
export const DIRECTORY_LIMIT = 1_000;

export class HubDirectory extends DurableObject<Record<string, unknown>> {
  constructor(ctx: DurableObjectState, env: Record<string, unknown>) {
    super(ctx, env);
    ctx.storage.sql.exec('CREATE TABLE IF NOT EXISTS hubs (name TEXT PRIMARY KEY, added_at INTEGER NOT NULL)');
  }

  add(name: string): void {
    this.ctx.storage.sql.exec('INSERT OR IGNORE INTO hubs (name, added_at) VALUES (?, ?)', name, Date.now());
  }

  list(): string[] {
    return this.ctx.storage.sql
      .exec<{ name: string }>('SELECT name FROM hubs ORDER BY name LIMIT ?', DIRECTORY_LIMIT)
      .toArray()
      .map((r) => r.name);
  }
}

/** Header the Worker sets on requests it forwards to a hub, since an object does not know its own name. */
export const HUB_NAME_HEADER = 'X-Signal-Hub-Name';

const LISTED_KEY = 'directory-listed';

export const directoryOf = (env: Record<string, unknown>): DurableObjectStub<HubDirectory> | null => {
  const ns = env.HUB_DIRECTORY as DurableObjectNamespace<HubDirectory> | undefined;
  return ns ? ns.get(ns.idFromName(DIRECTORY_NAME)) : null;
};

/**
 * Adds a hub to the directory once in its lifetime: the flag in the hub's own
 * storage makes every later open (and every later wake, after one read) free.
 * A failure is logged and retried on the next open (returns false); it never blocks a session.
 */
export const ensureListed = async (
  env: Record<string, unknown>,
  kv: { get<T>(ns: string, key: string): T | null; put(ns: string, key: string, value: unknown): void },
  name: string,
  log: (entry: { level: 'warn'; event: string; [k: string]: unknown }) => void,
): Promise<boolean> => {
  if (kv.get<boolean>('meta', LISTED_KEY)) return true;
  const directory = directoryOf(env);
  if (!directory) return true; // a deployment without the directory binding: nothing to do, ever
  try {
    await directory.add(name);
    kv.put('meta', LISTED_KEY, true);
    return true;
  } catch (err) {
    log({ level: 'warn', event: 'directory.add_failed', hub: name, error: err instanceof Error ? err.message : String(err) });
    return false;
  }
};
