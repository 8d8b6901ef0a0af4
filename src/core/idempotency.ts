import type { HubConfig } from '../config';
import type { SeenSet } from './dedup';
import type { HubRequest } from './request';
import type { Session } from './session';

/**
 * Idempotent requests (docs/PROTOCOL.md "Idempotent requests"): a request
 * whose id this scope already had answered within the window is not handled
 * again; its original answer is sent again, byte for byte (none for a tell
 * that had none). Anything else is handled and its answer recorded.
 */

/**
 * Whose ids are compared. A session's, and a resumed session keeps its
 * sessionId, so that covers a resume. With auth on, the verified identity's:
 * a session rebuilt after the grace period is the same user, proven by the
 * token, and the duplicate-connection rule leaves it one live session. With
 * auth off the identity is only what the client claims, and anyone could
 * claim it and read another session's answers (a renewal token among them),
 * so the scope stays the session.
 */
export const dedupScope = (config: HubConfig, session: Session): string => {
  if (session.dedupScope !== undefined) return session.dedupScope;
  const ctx = session.snapshot.context;
  const scope = config.authEnabled && ctx.identity !== null ? `i:${ctx.identity}` : `s:${ctx.sessionId}`;
  // Built once per session, not per frame (a fresh string is hashed anew by every map lookup). Both parts
  // are fixed once the session is connected: the sessionId for life (a resume keeps it), the identity from
  // hub:connect on. Before that an auth-on session has no identity yet, so nothing is kept.
  if (!config.authEnabled || ctx.identity !== null) session.dedupScope = scope;
  return scope;
};

export const dedupScopeKind = (config: HubConfig): 'identity' | 'session' => (config.authEnabled ? 'identity' : 'session');

/** Handles `req` once per id and scope: `handle` runs only for an id not seen within the window. */
export const once = <P>(seen: SeenSet, req: HubRequest, handle: (req: HubRequest, payload: P) => void, payload: P): void => {
  const { turn, session, envelope } = req;
  const scope = dedupScope(turn.config, session);
  const repeat = seen.repeat(scope, envelope.id, turn.now);
  if (repeat !== null) {
    for (const frame of repeat.frames) turn.effects.push({ kind: 'send', conn: session.connId, frame });
    turn.log.log('debug', 'request.repeated', { sessionId: req.sessionId, traceId: req.traceId, frames: repeat.frames.length });
    return;
  }
  const capture = { conn: session.connId, id: envelope.id, frames: [] as string[], retryable: false };
  turn.capture = capture;
  try {
    handle(req, payload);
  } finally {
    turn.capture = null;
  }
  // Refused with a retryable error: nothing was done, so a resend is handled afresh.
  if (capture.retryable) return;
  // An ask not answered yet (its target is paused, or the sender's earlier work is queued) takes its answer when it is sent.
  const waiting = req.isAsk && capture.frames.length === 0 ? session.connId : null;
  seen.record(scope, envelope.id, turn.now, capture.frames, waiting);
};
