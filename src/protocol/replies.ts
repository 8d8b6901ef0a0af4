import { z } from 'zod';
import { HUB_ADDRESS } from './envelope';
import { ERRORS, type ErrorCode } from './errors';
import type { RequestType } from './messages';

/**
 * Schemas of every payload the hub sends: the reply to each request, the
 * notices it sends unasked, and the error replies. The core's reply calls are
 * typed against them, the client's result types are inferred from them, and
 * the tests parse every frame the hub sends with `hubFrameSchema`, so the
 * three cannot drift apart. Objects are strict: a field the hub starts
 * sending has to be added here (and to docs/PROTOCOL.md) first.
 */

const count = z.number().int().nonnegative();
const time = z.number();

// ---------------------------------------------------------------- replies

export const connectedPayload = z.strictObject({
  sessionId: z.string(),
  serverVersion: z.string(),
  maxMessageSize: count,
  /** Milliseconds between the pings a client should send. */
  heartbeatInterval: count,
  capabilities: z.strictObject({
    maxActorsPerInstance: count,
    supportsBackpressure: z.literal(true),
    supportedContentTypes: z.array(z.string()),
    // Idempotent requests (issue 14 B): how long and by what a resent request id is recognised.
    idempotency: z.strictObject({ windowMs: count, limit: count, scope: z.enum(['session', 'identity']) }).optional(),
  }),
  rateLimit: z.strictObject({ perSecond: z.number().nonnegative(), burst: z.number().nonnegative() }),
  token: z.string(),
  tokenExpiresAt: time,
  /**
   * Present it in the next hub:connect to resume this session after an
   * unexpected drop (PROTOCOL.md "Session resume"). Both fields are absent
   * while resume is off (RESUME_GRACE_MS 0), so that reply is unchanged.
   */
  resumeToken: z.string().min(1).optional(),
  /** Whether this connection continues an earlier session (same sessionId, registrations and subscriptions). */
  resumed: z.boolean().optional(),
});

export const registeredPayload = z.strictObject({
  actorAddress: z.string(),
  expiresAt: time,
  renewalToken: z.string(),
  version: z.number().int().positive(),
});

export const unregisteredPayload = z.strictObject({ actorAddress: z.string() });

export const renewedPayload = z.strictObject({
  actorAddress: z.string(),
  expiresAt: time,
  renewalToken: z.string(),
});

const registrationMetadata = z.record(z.string(), z.unknown());

export const discoveredActor = z.strictObject({
  address: z.string(),
  capabilities: z.array(z.string()),
  metadata: registrationMetadata,
});

export const discoveredPayload = z.strictObject({ actors: z.array(discoveredActor), hasMore: z.boolean() });

export const listedActor = z.strictObject({
  actorAddress: z.string(),
  capabilities: z.array(z.string()),
  metadata: registrationMetadata,
  registeredAt: time,
  expiresAt: time,
  version: z.number().int().positive(),
});

export const actorListPayload = z.strictObject({
  actors: z.array(listedActor),
  total: count,
  offset: count,
  limit: count,
  hasMore: z.boolean(),
});

export const heartbeatAckPayload = z.strictObject({ timestamp: z.number(), serverTime: time });

/** The answer to a client's hub:disconnect; the hub closes with 1000 right after it. */
export const disconnectAckPayload = z.strictObject({ acknowledged: z.literal(true) });

export const DISCONNECT_REASONS = [
  'duplicate_connection',
  'heartbeat_timeout',
  'connect_timeout',
  'rate_limit_abuse',
  'token_expired',
  'server_shutdown',
] as const;

/** The hub ends the session on its own; the close that follows carries the same reason. */
export const disconnectNoticePayload = z.strictObject({ reason: z.enum(DISCONNECT_REASONS), message: z.string() });

/** One reply type for both: the acknowledgement has a correlationId, the notice has none. */
export const disconnectReplyPayload = z.union([disconnectAckPayload, disconnectNoticePayload]);

export const deliveryAckPayload = z.discriminatedUnion('status', [
  z.strictObject({ messageId: z.string(), deliveredAt: time, status: z.literal('delivered') }),
  /** A paused target's buffer overflowed and this message was the oldest in it. */
  z.strictObject({ messageId: z.string(), deliveredAt: z.null(), status: z.literal('dropped') }),
]);

export const broadcastAckPayload = z.strictObject({
  messageId: z.string(),
  deliveredCount: count,
  failedCount: count,
  queuedCount: count,
});

// ---- Topic recovery (issue 14 B). Absent while the hub keeps no history (TOPIC_HISTORY_SIZE 0).
/** The topic's position: the offset of its latest publication (0 before the first) in history `epoch`. */
const topicPosition = { offset: count.optional(), epoch: z.string().optional() };

export const subscribedPayload = z.strictObject({
  topic: z.string(),
  subscriptionId: z.string(),
  ...topicPosition,
  /** Only when the request carried `since`: whether every publication after it follows this reply. */
  recovered: z.boolean().optional(),
});

/** `subscriptionId` is null when nothing matched: unsubscribing twice succeeds twice. */
export const unsubscribedPayload = z.strictObject({ topic: z.string(), subscriptionId: z.string().nullable() });

export const publishedPayload = z.strictObject({ topic: z.string(), subscriberCount: count, ...topicPosition });

export const pausedPayload = z.strictObject({ paused: z.literal(true), bufferLimit: count });

export const resumedPayload = z.strictObject({ paused: z.literal(false), flushed: count, dropped: count });

export const queueStatsPayload = z.strictObject({
  queueDepth: count,
  /** Deliveries per second over the last full second. */
  processingRate: z.number().nonnegative(),
  pauseThreshold: count,
  resumeThreshold: count,
  paused: z.boolean(),
  buffered: count,
  dropped: count,
});

export const metricsPayload = z.strictObject({
  messagesReceived: count,
  messagesSent: count,
  messagesDelivered: count,
  errors: count,
  connectionsOpened: count,
  connectionsClosed: count,
  currentSessions: count,
  registeredActors: count,
  topics: count,
  queuedDeliveries: count,
});

export const tokenRefreshedPayload = z.strictObject({ token: z.string(), expiresAt: time });

/** Payloads of the successful replies, by reply type. */
export const replySchemas = {
  'hub:connected': connectedPayload,
  'hub:heartbeat_ack': heartbeatAckPayload,
  'hub:disconnect': disconnectReplyPayload,
  'hub:registered': registeredPayload,
  'hub:unregistered': unregisteredPayload,
  'hub:renewed': renewedPayload,
  'hub:discovered': discoveredPayload,
  'hub:actor_list': actorListPayload,
  'hub:token_refreshed': tokenRefreshedPayload,
  'hub:metrics_response': metricsPayload,
  'hub:delivery_ack': deliveryAckPayload,
  'hub:broadcast_ack': broadcastAckPayload,
  'hub:subscribed': subscribedPayload,
  'hub:unsubscribed': unsubscribedPayload,
  'hub:published': publishedPayload,
  'hub:paused': pausedPayload,
  'hub:resumed': resumedPayload,
  'hub:queue_stats_response': queueStatsPayload,
} as const;

/** The reply type of each request, when it is sent as an ask and succeeds. */
export const REPLY_TYPES = {
  'hub:connect': 'hub:connected',
  'hub:heartbeat': 'hub:heartbeat_ack',
  'hub:disconnect': 'hub:disconnect',
  'hub:register': 'hub:registered',
  'hub:unregister': 'hub:unregistered',
  'hub:renew': 'hub:renewed',
  'hub:discover': 'hub:discovered',
  'hub:list_actors': 'hub:actor_list',
  'hub:refresh_token': 'hub:token_refreshed',
  'hub:metrics': 'hub:metrics_response',
  'hub:send': 'hub:delivery_ack',
  'hub:broadcast': 'hub:broadcast_ack',
  'hub:subscribe': 'hub:subscribed',
  'hub:unsubscribe': 'hub:unsubscribed',
  'hub:publish': 'hub:published',
  'hub:pause': 'hub:paused',
  'hub:resume': 'hub:resumed',
  'hub:queue_stats': 'hub:queue_stats_response',
} as const satisfies Record<RequestType, keyof typeof replySchemas>;
export type Replies = typeof REPLY_TYPES;

// ---------------------------------------------------------------- notices

/** Advisory backpressure: the sender has `queueDepth` recipients queued (hub:pause) or few enough again (hub:resume). */
export const flowNoticePayload = <R extends string>(reason: R) =>
  z.strictObject({ reason: z.literal(reason), queueDepth: count });

/** Frames the hub sends unasked (correlationId null); hub:disconnect's notice form is in `replySchemas`. */
export const noticeSchemas = {
  'hub:pause': flowNoticePayload('queue_depth'),
  'hub:resume': flowNoticePayload('queue_drained'),
} as const;

// ---------------------------------------------------------------- errors

const issue = z.strictObject({ path: z.string(), message: z.string() });

/**
 * The fields every error payload has. `retryable` is fixed per code (see
 * `ERRORS`); `details` carries what a code needs, e.g. `issues` for
 * invalid_message.
 */
const errorFields = <C extends ErrorCode>(code: C) => ({
  code: z.literal(code),
  message: z.string().min(1),
  resolution: z.string().min(1),
  retryable: z.literal(ERRORS[code].retryable as (typeof ERRORS)[C]['retryable']),
  details: z.record(z.string(), z.unknown()).optional(),
});

const errorOf = <C extends ErrorCode>(code: C) => z.strictObject(errorFields(code));

const capDetails = z.looseObject({ limit: z.number().int().min(0) });

/** hub:error carries the codes that need no fields of their own. */
export const hubErrorPayload = z.discriminatedUnion('code', [
  errorOf('invalid_message').extend({
    details: z.looseObject({ issues: z.array(issue).optional() }).optional(),
  }),
  errorOf('unknown_type'),
  errorOf('not_connected'),
  errorOf('message_expired'),
  errorOf('ambiguous_target'),
  errorOf('broadcast_limit_exceeded'),
  errorOf('registry_full'),
  errorOf('invalid_token'),
  errorOf('internal_error'),
  // Per-session fair shares (src/core/limits.ts): the cap in force is in details.limit.
  errorOf('too_many_registrations').extend({ details: capDetails }),
  errorOf('too_many_subscriptions').extend({ details: capDetails }),
  errorOf('too_many_pending_asks').extend({ details: capDetails }),
  // Session resume (PROTOCOL.md "Session resume"): the target was suspended, not gone for good.
  errorOf('resume_expired').extend({ details: z.looseObject({ actorAddress: z.string() }) }),
  errorOf('mailbox_full').extend({ details: z.looseObject({ actorAddress: z.string(), limit: z.number().int().min(0) }) }),
]);

export const unknownActorPayload = z.strictObject({ ...errorFields('unknown_actor'), actorAddress: z.string() });

export const unauthorizedPayload = z.strictObject({
  ...errorFields('unauthorized'),
  /** The request type or action refused: connect, register, send, hub:send, ... */
  action: z.string(),
  /** Why: permission_denied, scope_violation, identity_mismatch, an auth verdict such as expired_token, ... */
  reason: z.string(),
});

export const rateLimitedPayload = z.strictObject({
  ...errorFields('rate_limited'),
  /** Milliseconds until the session's bucket holds a token again. */
  retryAfter: z.number().int().min(1),
});

export const versionMismatchPayload = z.strictObject({
  ...errorFields('version_mismatch'),
  clientVersion: z.string(),
  serverVersion: z.string(),
  supportedVersions: z.array(z.string()),
});

export const messageTooLargePayload = z.strictObject({
  ...errorFields('message_too_large'),
  messageSize: count,
  maxSize: count,
});

/** Error payloads by reply type: each reply type of `ERRORS` has exactly one entry. */
export const errorReplySchemas = {
  'hub:error': hubErrorPayload,
  'hub:unknown_actor': unknownActorPayload,
  'hub:unauthorized': unauthorizedPayload,
  'hub:rate_limited': rateLimitedPayload,
  'hub:version_mismatch': versionMismatchPayload,
  'hub:message_too_large': messageTooLargePayload,
} as const satisfies Record<(typeof ERRORS)[ErrorCode]['replyType'], z.ZodType>;

export type ErrorReplyType = keyof typeof errorReplySchemas;
export const ERROR_REPLY_TYPES: ReadonlySet<string> = new Set(Object.keys(errorReplySchemas));

/** What every error payload has, with the fields of its reply type on top. */
export interface ErrorPayload {
  code: string;
  message: string;
  resolution: string;
  retryable: boolean;
  details?: Record<string, unknown>;
  [extra: string]: unknown;
}

// ---------------------------------------------------------------- frames

/** Every payload the hub sends, by message type. */
export const hubPayloadSchemas = { ...replySchemas, ...noticeSchemas, ...errorReplySchemas } as const;
export type HubMessageType = keyof typeof hubPayloadSchemas;
export type HubPayloads = { [K in HubMessageType]: z.infer<(typeof hubPayloadSchemas)[K]> };
export type ReplyType = keyof typeof replySchemas;
export type ReplyPayloads = { [K in ReplyType]: z.infer<(typeof replySchemas)[K]> };

/**
 * Envelope metadata of the hub's frames: `{}` except where 0.1.0 clients read
 * reply fields from it (the session identity; the registration).
 */
export const replyMetadataSchemas = {
  'hub:connected': z.strictObject({ actorIdentity: z.string() }),
  'hub:registered': registeredPayload,
} as const satisfies Partial<Record<HubMessageType, z.ZodType>>;
const emptyMetadata = z.strictObject({});
export type ReplyMetadata<K extends HubMessageType> = K extends keyof typeof replyMetadataSchemas
  ? z.infer<(typeof replyMetadataSchemas)[K]>
  : Record<string, never>;

const hubFrame = <K extends HubMessageType>(type: K) =>
  z.strictObject({
    id: z.string().min(1),
    from: z.literal(HUB_ADDRESS),
    to: z.string(),
    type: z.literal(type),
    payload: hubPayloadSchemas[type] as (typeof hubPayloadSchemas)[K],
    pattern: z.literal('tell'),
    /** The request's id for a reply; null for a notice, or an error to a frame whose id was unreadable. */
    correlationId: z.string().nullable(),
    timestamp: time,
    metadata: (type in replyMetadataSchemas
      ? replyMetadataSchemas[type as keyof typeof replyMetadataSchemas]
      : emptyMetadata) as K extends keyof typeof replyMetadataSchemas ? (typeof replyMetadataSchemas)[K] : typeof emptyMetadata,
    ttl: z.null(),
    signature: z.null(),
  });

/** Full envelopes of every frame the hub sends on its own behalf, by type (forwarded messages excluded). */
export const hubFrameSchemas = Object.fromEntries(
  (Object.keys(hubPayloadSchemas) as HubMessageType[]).map((type) => [type, hubFrame(type)]),
) as { [K in HubMessageType]: ReturnType<typeof hubFrame<K>> };

/** Any frame the hub sends on its own behalf. */
export const hubFrameSchema = z.discriminatedUnion(
  'type',
  Object.values(hubFrameSchemas) as [ReturnType<typeof hubFrame<HubMessageType>>, ...ReturnType<typeof hubFrame<HubMessageType>>[]],
);
export type HubFrame = z.infer<typeof hubFrameSchema>;

// ---------------------------------------------------------------- types

export type ConnectedPayload = z.infer<typeof connectedPayload>;
export type RegisteredPayload = z.infer<typeof registeredPayload>;
export type Unregistered = z.infer<typeof unregisteredPayload>;
export type Renewed = z.infer<typeof renewedPayload>;
export type DiscoveredActor = z.infer<typeof discoveredActor>;
export type Discovered = z.infer<typeof discoveredPayload>;
export type ListedActor = z.infer<typeof listedActor>;
export type ActorList = z.infer<typeof actorListPayload>;
export type HeartbeatAck = z.infer<typeof heartbeatAckPayload>;
export type DisconnectNotice = z.infer<typeof disconnectNoticePayload>;
export type DeliveryAck = z.infer<typeof deliveryAckPayload>;
export type BroadcastAck = z.infer<typeof broadcastAckPayload>;
export type Subscribed = z.infer<typeof subscribedPayload>;
export type Unsubscribed = z.infer<typeof unsubscribedPayload>;
export type Published = z.infer<typeof publishedPayload>;
export type Paused = z.infer<typeof pausedPayload>;
export type Resumed = z.infer<typeof resumedPayload>;
export type QueueStats = z.infer<typeof queueStatsPayload>;
export type Metrics = z.infer<typeof metricsPayload>;
export type TokenRefreshed = z.infer<typeof tokenRefreshedPayload>;
export type FlowNotice = HubPayloads['hub:pause'] | HubPayloads['hub:resume'];

/**
 * Why a frame received from the hub does not match its schema, or null when
 * it does. Messages other actors sent (`metadata.forwarded`) carry
 * application payloads and are not checked.
 */
export const hubFrameIssues = (frame: unknown): string | null => {
  const f = frame as { metadata?: { forwarded?: unknown } } | null;
  if (f && typeof f === 'object' && f.metadata?.forwarded === true) return null;
  const parsed = hubFrameSchema.safeParse(frame);
  if (parsed.success) return null;
  return `${JSON.stringify(frame).slice(0, 300)}: ${parsed.error.issues
    .map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`)
    .join('; ')}`;
};
