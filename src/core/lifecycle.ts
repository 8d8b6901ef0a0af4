import { CLOSE_CODES } from '../../machines/session';
import {
  PROTOCOL_VERSION,
  SERVER_VERSION,
  SUPPORTED_VERSIONS,
  issuesOf,
} from '../protocol/envelope';
import { connectMetadataSchema, type ConnectedPayload } from '../protocol/messages';
import type { HandlerTable, Request } from './request';

export const TOKEN_LIFETIME_MS = 3_600_000;

const majorOf = (version: string): string => version.trim().replace(/^v/i, '').split('.')[0] ?? '';

/** Handlers for connect (only in `connecting`) and the session-level requests. */
export const connectHandler = (req: Request): void => {
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

  const identity = req.envelope.from;
  const capabilities = meta.data.capabilities ?? [];
  req.session.token = turn.host.ids.token();
  req.session.tokenExpiresAt = turn.now + TOKEN_LIFETIME_MS;
  req.hub.drive(turn, req.session, { type: 'CONNECT_ACCEPTED', now: turn.now, identity, capabilities });

  const { config } = turn;
  const payload: ConnectedPayload = {
    sessionId: req.sessionId,
    serverVersion: SERVER_VERSION,
    maxMessageSize: config.maxMessageSize,
    heartbeatInterval: config.heartbeatIntervalMs,
    capabilities: {
      maxActorsPerInstance: config.registryLimit,
      supportsBackpressure: true,
      supportedContentTypes: ['application/json'],
    },
    rateLimit: { perSecond: config.rateLimitPerSecond, burst: config.rateLimitBurst },
    token: req.session.token,
    tokenExpiresAt: req.session.tokenExpiresAt,
  };
  req.reply('hub:connected', payload, { actorIdentity: identity });
  turn.log.log('info', 'session.connected', { sessionId: req.sessionId, traceId: req.traceId });
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
