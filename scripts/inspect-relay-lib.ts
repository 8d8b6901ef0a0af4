import type { StatelyInspectionEvent } from '@statelyai/inspect';

/**
 * The parts of the inspect relay (scripts/inspect-relay.ts) that are plain
 * functions, kept apart so tests can call them without starting a relay.
 */

export const DEFAULT_INSPECT_URL = 'ws://127.0.0.1:8787/inspect';

/** The /inspect URL to watch: a given URL as is, or the local hub's, for the default hub or `--hub <name>`. */
export const inspectUrl = (url: string | undefined, hub: string | undefined): string => {
  if (url !== undefined && hub !== undefined) throw new Error('give either an /inspect URL or --hub <name>, not both');
  if (url !== undefined) return url;
  return hub === undefined ? DEFAULT_INSPECT_URL : `${DEFAULT_INSPECT_URL}/${encodeURIComponent(hub)}`;
};

/** Which hub an /inspect URL watches, in words: the relay's first line says so, since the README's examples use named hubs. */
export const watchedHub = (url: string): string => {
  let path: string;
  try {
    path = new URL(url).pathname;
  } catch {
    return url;
  }
  if (path === '/inspect' || path === '/inspect/') return 'the default hub (the one /ws reaches)';
  const named = /^\/inspect\/([^/]+)\/?$/.exec(path);
  if (!named) return url;
  const name = decodeURIComponent(named[1]!);
  return `hub "${name}" (the one /ws/${name} reaches)`;
};

/** One console line per frame. A FRAME names its request type and id, so a register can be told from a publish. */
export const describeFrame = (f: StatelyInspectionEvent): string => {
  const id = f.sessionId.slice(0, 8);
  switch (f.type) {
    case '@xstate.actor':
      return `${f.type.padEnd(16)} ${id}  ${f.name} in ${JSON.stringify(f.snapshot.value)}`;
    case '@xstate.event': {
      const e = f.event as { type: string; request?: unknown; id?: unknown };
      const named = typeof e.request === 'string' ? ` ${e.request}${typeof e.id === 'string' ? ` ${e.id}` : ''}` : '';
      return `${f.type.padEnd(16)} ${id}  ${e.type}${named}`;
    }
    default:
      return `${f.type.padEnd(16)} ${id}  -> ${JSON.stringify((f.snapshot as { value?: unknown }).value)} (${f.snapshot.status})`;
  }
};
