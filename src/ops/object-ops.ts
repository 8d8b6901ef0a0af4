import type { ConfigIssue } from '../config';
import type { HubCore } from '../core/hub';
import { subscribersByTopic } from '../core/topics';
import { Turn, type HubHost } from '../core/turn';
import { hubSnapshot } from './snapshot';

/**
 * The operator requests a hub's Durable Object answers: the Worker's /metrics,
 * /health/<hub>, shutdown and dashboard routes reach it under OPS_PREFIX.
 * Durable Objects are reachable only through the Worker, and the Worker
 * forwards only WebSocket paths (/ws..., /inspect...) from the outside, so
 * these paths are never exposed; the Worker checks the operator token first.
 */
export const OPS_PREFIX = '/__ops/';

/** What the ops handlers need from the shell, and nothing else. */
export interface OpsShell {
  configIssues: ConfigIssue[] | null;
  hub(): HubCore;
  host(): HubHost;
  /** Runs the core's shutdown through the shell's effect interpreter. */
  shutdown(now: number): void;
  /** Writes the counters held for the next session flush, so a scrape never shows a count a crash could take back. */
  flush(): void;
}

const json = (body: unknown, status = 200): Response =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });

export const isOpsPath = (pathname: string): boolean => pathname.startsWith(OPS_PREFIX);

export const handleOps = (shell: OpsShell, request: Request, url: URL): Response => {
  const what = url.pathname.slice(OPS_PREFIX.length);
  if (what === 'health') return health(shell);
  if (shell.configIssues) return json({ status: 'error', error: 'invalid_configuration', issues: shell.configIssues }, 503);
  const now = Date.now();
  switch (what) {
    case 'metrics':
      shell.flush();
      return json(hubSnapshot(shell.hub(), shell.host(), now));
    case 'state':
      return json(hubState(shell.hub(), shell.host(), now));
    case 'shutdown': {
      if (request.method !== 'POST') return json({ status: 'error', error: 'method_not_allowed' }, 405);
      const sessions = shell.hub().liveSessionCount();
      shell.shutdown(now);
      return json({ status: 'ok', notified: sessions });
    }
    default:
      return json({ status: 'error', error: 'not_found', path: url.pathname }, 404);
  }
};

/**
 * Deep health: the object itself says whether it can serve. Each check is
 * reported; any failing one makes the answer 503 with its reason.
 */
const health = (shell: OpsShell): Response => {
  const checks: Record<string, { ok: boolean; [detail: string]: unknown }> = {};
  checks.config = shell.configIssues ? { ok: false, reason: 'invalid_configuration', issues: shell.configIssues } : { ok: true };
  let sessions: number | null = null;
  if (!shell.configIssues) {
    try {
      const host = shell.host();
      // Reads both stores the hub depends on; a failing read throws here, not on a client's frame.
      host.kv.get('meta', 'counters');
      host.registry.countLive(Date.now());
      checks.storage = { ok: true };
    } catch (err) {
      checks.storage = { ok: false, reason: 'storage_unreadable', error: err instanceof Error ? err.message : String(err) };
    }
    if (checks.storage.ok) {
      try {
        sessions = shell.hub().liveSessionCount();
        checks.sessions = { ok: true, live: sessions };
      } catch (err) {
        checks.sessions = { ok: false, reason: 'sessions_unreadable', error: err instanceof Error ? err.message : String(err) };
      }
    }
  }
  const failing = Object.entries(checks).filter(([, c]) => !c.ok);
  const ok = failing.length === 0;
  return json(
    {
      status: ok ? 'ok' : 'error',
      ...(ok ? {} : { reason: failing.map(([, c]) => c.reason).join(', ') }),
      sessions,
      checks,
    },
    ok ? 200 : 503,
  );
};

/** How many registry rows and topics the dashboard lists; the counts are always complete. */
const LIST_LIMIT = 200;

/** Registry and topics for the dashboard: what is there, not just how much. */
const hubState = (core: HubCore, host: HubHost, now: number) => {
  const actors = host.registry.page(now, 0, LIST_LIMIT).map((row) => ({
    address: row.address,
    capabilities: row.capabilities,
    sessionId: row.sessionId,
    expiresAt: row.expiresAt,
  }));
  const topics = subscribersByTopic(new Turn(now, core.config, host));
  return {
    actors,
    actorCount: host.registry.countLive(now),
    topics: [...topics].slice(0, LIST_LIMIT).map(([topic, subscribers]) => ({ topic, subscribers })),
    sessions: core.liveSessionCount(),
  };
};
