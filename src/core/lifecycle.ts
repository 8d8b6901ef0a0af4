import { CLOSE_CODES } from '../../machines/session';
import {
  PROTOCOL_VERSION,
  SERVER_VERSION,
  SUPPORTED_VERSIONS,
  issuesOf,
} from '../protocol/envelope';
import { connectMetadataSchema, connectPayload } from '../protocol/messages';
import type { ConnectedPayload } from '../protocol/replies';
import type { AuthVerdict } from './auth';
import type { HandlerTable, HubRequest } from './request';
import { refuseReservedIdentity } from './reserved';
import { refuseOversized } from './session-budget';
import { isLive, isSuspended } from './session';
import { dedupScopeKind } from './idempotency';
import { hashResumeToken, newResumeToken } from './resume-token';

/** The resume token a hub:connect carries, if any; a malformed payload counts as none (never a refusal). */
const resumeTokenOf = (payload: unknown): string | undefined => {
  const parsed = connectPayload.safeParse(payload);
  return parsed.success ? (parsed.data?.resumeToken ?? undefined) : undefined;
};

export const TOKEN_LIFETIME_MS = 3_600_000;

const majorOf = (version: string): string => version.trim().replace(/^v/i, '').split('.')[0] ?? '';
/** Whether a client of this protocol version knows session resume (0.2 and later; see PROTOCOL_VERSION). */
const speaksResume = (version: string): boolean => {
  const [major, minor] = version.trim().replace(/^v/i, '').split('.').map((n) => parseInt(n, 10));
  return major! > 0 || (major === 0 && minor! >= 2);
};

/** Handlers for connect (only in `connecting`) and the session-level requests. */
export const connectHandler = (req: HubRequest): void => {
  const { turn } = req;
  const meta = connectMetadataSchema.safeParse(req.envelope.metadata);
  if (!meta.success) {
    req.fail({
      code: 'invalid_message',
      message: 'hub:connect needs metadata.protocolVersion and, if given, string capabilities.',
      details: { issues: issuesOf(meta.error, 'metadata') },
    });
    return;
  }
  const clientVersion = meta.data.protocolVersion;
  if (majorOf(clientVersion) !== majorOf(PROTOCOL_VERSION)) {
    req.reply('hub:version_mismatch', {
      code: 'version_mismatch',
      message: `Protocol ${clientVersion} is not supported by this hub (${SERVER_VERSION}).`,
      resolution: 'Upgrade or downgrade the client to a protocol version listed in supportedVersions.',
      retryable: false,
      clientVersion,
      serverVersion: SERVER_VERSION,
      supportedVersions: SUPPORTED_VERSIONS,
    });
    turn.log.log('info', 'session.version_mismatch', { sessionId: req.sessionId, traceId: req.traceId, clientVersion });
    req.hub.drive(turn, req.session, {
      type: 'CONNECT_REFUSED',
      now: turn.now,
      code: CLOSE_CODES.versionMismatch,
      reason: 'version_mismatch',
    });
    return;
  }

  let identity = req.envelope.from;
  let capabilities = meta.data.capabilities ?? [];
  let verified: Extract<AuthVerdict, { ok: true }> | null = null;
  if (turn.config.authEnabled) {
    const verdict = turn.auth?.verdict ?? { ok: false as const, reason: 'missing_token' };
    if (!verdict.ok) {
      req.fail({
        code: 'unauthorized',
        message: `hub:connect refused: ${verdict.reason.replace(/_/g, ' ')}.`,
        resolution: 'Connect with metadata.authToken set to a valid, unexpired HS256 JWT issued by signal-hub.',
        extra: { action: 'connect', reason: verdict.reason },
      });
      turn.log.log('info', 'session.auth_refused', { sessionId: req.sessionId, traceId: req.traceId, reason: verdict.reason });
      req.hub.drive(turn, req.session, {
        type: 'CONNECT_REFUSED',
        now: turn.now,
        code: CLOSE_CODES.unauthorized,
        reason: 'unauthorized',
      });
      return;
    }
    // Identity and capabilities come from the token only.
    identity = verdict.identity;
    capabilities = verdict.capabilities;
    verified = verdict;
  }
  if (refuseReservedIdentity(req, identity)) return;
  const refusal = turn.auth?.refusal;
  if (refusal) {
    req.fail({
      code: 'unauthorized',
      message: refusal.message ?? `hub:connect refused for ${identity}.`,
      resolution: refusal.resolution ?? 'Connect as an identity this hub admits; ask the hub operator which.',
      extra: { action: 'connect', reason: refusal.reason },
    });
    turn.log.log('info', 'session.connect_refused', { sessionId: req.sessionId, traceId: req.traceId, reason: refusal.reason });
    req.hub.drive(turn, req.session, { type: 'CONNECT_REFUSED', now: turn.now, code: CLOSE_CODES.unauthorized, reason: 'unauthorized' });
    return;
  }
  // Checked before anything changes: a session whose state could not be persisted is never acknowledged.
  if (refuseOversized(req, identity, capabilities, verified?.permissions ?? null)) return;
  // Session resume (PROTOCOL.md "Session resume"): a token that matches a
  // suspended session of this identity within its grace period continues
  // that session on this connection; any other token is ignored.
  const resumeOn = turn.config.resumeGraceMs > 0 && speaksResume(clientVersion);
  const found = resumeOn ? req.hub.resumable(resumeTokenOf(req.envelope.payload), identity, turn.now) : null;
  // Still live on its old socket (the hub has not noticed that socket is
  // gone): the old socket is told and closed, and the session is suspended
  // for the resume below within this same turn (PROTOCOL.md "Session resume").
  const takenOver = found !== null && isLive(found) ? found.connId : null;
  if (found && takenOver !== null) {
    turn.log.log('info', 'session.taken_over', { sessionId: found.snapshot.context.sessionId, traceId: req.traceId });
    req.hub.drive(turn, found, { type: 'TAKEN_OVER', now: turn.now });
  }
  const suspended = found !== null && isSuspended(found) ? found : null;
  const session = suspended ? req.hub.adopt(turn, req.session, suspended, takenOver !== null) : req.session;
  let token: string;
  if (verified) {
    // The JWT is not kept in the attachment: it may be far larger than the
    // attachment limit, and a refresh verifies the presented token afresh.
    token = verified.token;
    session.tokenExpiresAt = verified.expiresAt;
    session.authExpiresAt = verified.expiresAt;
    session.permissions = verified.permissions;
    // Last one wins: an older session with the same identity (live or suspended) is evicted.
    const holder = req.hub.resolveIdentity(identity);
    if (holder && holder !== session) req.hub.drive(turn, holder, { type: 'DUPLICATE_DETECTED', now: turn.now });
  } else {
    token = turn.host.ids.token();
    session.token = token;
    session.tokenExpiresAt = turn.now + TOKEN_LIFETIME_MS;
  }
  // A fresh resume token on every connect, resumed or not: a token resumes at most once.
  const resumeToken = resumeOn ? newResumeToken(turn.host.ids) : null;
  session.resumeHash = resumeToken !== null ? hashResumeToken(resumeToken) : null;
  turn.dirty.add(session);
  // A 0.1 client's session is not resumable: it is released on any close, as the contract says.
  const notResumable = turn.config.resumeGraceMs > 0 && !resumeOn ? { resumable: false } : {};
  if (!suspended) req.hub.drive(turn, session, { type: 'CONNECT_ACCEPTED', now: turn.now, identity, capabilities, ...notResumable });

  const { config } = turn;
  const payload: ConnectedPayload = {
    sessionId: session.snapshot.context.sessionId,
    serverVersion: SERVER_VERSION,
    maxMessageSize: config.maxMessageSize,
    heartbeatInterval: config.heartbeatIntervalMs,
    capabilities: {
      maxActorsPerInstance: config.registryLimit,
      supportsBackpressure: true,
      supportedContentTypes: ['application/json'],
      // Idempotent requests (issue 14 B): a client may resend in-flight requests with their ids when this says it is safe.
      ...(config.dedupWindowMs > 0 && { idempotency: { windowMs: config.dedupWindowMs, limit: config.dedupLimit, scope: dedupScopeKind(config) } }),
    },
    rateLimit: { perSecond: config.rateLimitPerSecond, burst: config.rateLimitBurst },
    token,
    tokenExpiresAt: session.tokenExpiresAt!,
    // Absent while resume is off: the reply is then exactly what it was before resume existed.
    ...(resumeToken !== null && { resumeToken, resumed: suspended !== null }),
  };
  req.reply('hub:connected', payload, { actorIdentity: identity });
  turn.log.log('info', suspended ? 'session.resumed' : 'session.connected', { sessionId: payload.sessionId, traceId: req.traceId });
  // After hub:connected, so the client knows its session before the mailbox arrives.
  if (suspended) req.hub.drive(turn, session, { type: 'RESUMED', now: turn.now });
};

export const lifecycleHandlers: HandlerTable = {
  'hub:connect': (req) => {
    req.fail({
      code: 'invalid_message',
      message: 'This session is already connected.',
      resolution: 'Send hub:connect once per connection; open a new connection to change identity.',
      details: { issues: [{ path: 'type', message: 'hub:connect on a connected session' }] },
    });
  },

  'hub:heartbeat': (req, p) => {
    const { turn } = req;
    req.hub.drive(turn, req.session, { type: 'HEARTBEAT', now: turn.now });
    if (turn.host.registry.renewOnHeartbeat(req.session.connId, turn.now) > 0) turn.registryTouched = true;
    req.reply('hub:heartbeat_ack', { timestamp: p?.timestamp ?? req.envelope.timestamp, serverTime: turn.now });
  },

  'hub:disconnect': (req) => {
    req.turn.log.log('info', 'session.disconnect_requested', { sessionId: req.sessionId, traceId: req.traceId });
    req.hub.drive(req.turn, req.session, { type: 'DISCONNECT_REQUESTED', now: req.turn.now, requestId: req.envelope.id });
  },

  'hub:refresh_token': (req, p) => {
    const { session, turn } = req;
    if (turn.config.authEnabled) {
      refreshJwt(req);
      return;
    }
    const valid =
      session.token !== null &&
      p.token === session.token &&
      session.tokenExpiresAt !== null &&
      session.tokenExpiresAt > turn.now;
    if (!valid) {
      req.fail({ code: 'invalid_token', message: 'The token is not this session\'s current token or has expired.' });
      return;
    }
    session.token = turn.host.ids.token();
    session.tokenExpiresAt = turn.now + TOKEN_LIFETIME_MS;
    turn.dirty.add(session);
    req.reply('hub:token_refreshed', { token: session.token, expiresAt: session.tokenExpiresAt });
  },
};

/** JWT mode: the shell verified the presented token and minted its successor. */
const refreshJwt = (req: HubRequest): void => {
  const { session, turn } = req;
  const verdict = turn.auth?.verdict;
  if (!verdict || !verdict.ok || !turn.auth?.reissued) {
    req.fail({
      code: 'invalid_token',
      message: `The token cannot be refreshed: ${verdict && !verdict.ok ? verdict.reason.replace(/_/g, ' ') : 'missing token'}.`,
      resolution: 'Refresh with a valid, unexpired JWT of this session, or reconnect with a new token.',
      details: { reason: verdict && !verdict.ok ? verdict.reason : 'missing_token' },
    });
    return;
  }
  if (verdict.identity !== session.snapshot.context.identity) {
    req.fail({
      code: 'invalid_token',
      message: 'The token belongs to another identity.',
      resolution: 'Refresh with a token issued for this session\'s identity.',
      details: { reason: 'identity_mismatch' },
    });
    return;
  }
  // As at connect, the JWT itself is handed out, not stored.
  session.tokenExpiresAt = turn.auth.reissued.expiresAt;
  session.authExpiresAt = turn.auth.reissued.expiresAt;
  turn.dirty.add(session);
  req.reply('hub:token_refreshed', { token: turn.auth.reissued.token, expiresAt: session.tokenExpiresAt });
};
