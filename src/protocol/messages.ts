import { z } from 'zod';
import { addressSchema, metadataSchema } from './envelope';
import { sessionCapabilitiesSchema } from './limits';
import { wellFormed } from './strings';

/**
 * Payload schemas of every request the hub understands, keyed by type. The
 * server validates with these; clients and tests build payloads from the
 * inferred `Requests` types, so both sides share one definition.
 */

const capabilitiesSchema = z.array(wellFormed(z.string().min(1).max(256))).max(256);

export const connectMetadataSchema = z.object({
  protocolVersion: wellFormed(z.string().min(1).max(64)),
  authToken: z.string().optional(),
  // Kept in the session's attachment, so bounded tighter than a registration's (src/protocol/limits.ts).
  capabilities: sessionCapabilitiesSchema.optional(),
});

export const heartbeatPayload = z
  .object({ timestamp: z.number().finite().optional() })
  .nullable()
  .optional();

export const disconnectPayload = z
  .object({ reason: wellFormed(z.string().max(256)).optional() })
  .nullable()
  .optional();

export const registerPayload = z.object({
  actorAddress: addressSchema,
  capabilities: capabilitiesSchema,
  metadata: metadataSchema.optional(),
  ttlSeconds: z.number().finite().positive().optional(),
});

// 0.1.0 clients send `payload: null` for both and name the address in `from`
// (and the renewal token in `metadata.renewalToken`); see docs/PROTOCOL.md.
export const unregisterPayload = z.object({ actorAddress: addressSchema }).nullable().optional();

export const RENEWAL_TOKEN_MAX = 512;
export const renewPayload = z
  .object({ renewalToken: wellFormed(z.string().min(1).max(RENEWAL_TOKEN_MAX)) })
  .nullable()
  .optional();

export const MAX_DISCOVER_LIMIT = 100;
export const MAX_LIST_LIMIT = 1000;

export const discoverPayload = z.object({
  pattern: wellFormed(z.string().min(1).max(1024)),
  capability: wellFormed(z.string().min(1).max(256)).optional(),
  limit: z.number().int().positive().optional(),
});

export const listActorsPayload = z
  .object({
    offset: z.number().int().nonnegative().optional(),
    limit: z.number().int().positive().optional(),
  })
  .nullable()
  .optional();

// No length limit of its own: any token valid at connect must be refreshable; MAX_MESSAGE_SIZE bounds it.
export const refreshTokenPayload = z.object({ token: z.string().min(1) });

export const emptyPayload = z.unknown();

/**
 * hub:connect may carry the resume token of an earlier session (issue 14).
 * Older clients send no payload or an empty object; both stay valid. A token
 * that is not a string of the right size is treated as absent by the hub, so
 * a stale or mangled token never blocks connecting.
 */
export const connectPayload = z
  .object({ resumeToken: z.string().max(256).optional() })
  .loose()
  .nullable()
  .optional();

export const TOPIC_PATTERN = /^[A-Za-z0-9_.:/-]{1,256}$/;
export const topicSchema = z
  .string()
  .regex(TOPIC_PATTERN, { message: 'topic must be 1-256 characters of A-Z a-z 0-9 _ . : / -' });

const appType = wellFormed(z.string().min(1).max(256));

export const sendPayload = z.object({
  // Any string: a target that is not a canonical address names no actor that
  // can exist, and 0.1.0 clients expect hub:unknown_actor for it (contract §4).
  to: z.string().min(1).max(1024).optional(),
  type: appType,
  data: z.unknown().optional(),
});

export const broadcastPayload = z.object({
  type: appType,
  data: z.unknown().optional(),
  excludeSelf: z.boolean().optional(),
});

// ---- Topic recovery (issue 14 B): where a subscriber left off; see docs/PROTOCOL.md "Topic recovery".
export const EPOCH_MAX = 64;
export const topicPositionSchema = z.object({
  offset: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  epoch: wellFormed(z.string().min(1).max(EPOCH_MAX)),
});
export type TopicPosition = z.infer<typeof topicPositionSchema>;

export const subscribePayload = z.object({ topic: topicSchema, since: topicPositionSchema.optional() });

export const unsubscribePayload = z
  .object({ topic: topicSchema.optional(), subscriptionId: wellFormed(z.string().min(1).max(256)).optional() })
  .refine((p) => p.topic !== undefined || p.subscriptionId !== undefined, {
    message: 'give topic or subscriptionId',
  });

export const publishPayload = z.object({ topic: topicSchema, type: appType, data: z.unknown().optional() });

export const flowPayload = z.object({ reason: wellFormed(z.string().max(256)).optional() }).nullable().optional();

export const requestSchemas = {
  'hub:connect': connectPayload,
  'hub:heartbeat': heartbeatPayload,
  'hub:disconnect': disconnectPayload,
  'hub:register': registerPayload,
  'hub:unregister': unregisterPayload,
  'hub:renew': renewPayload,
  'hub:discover': discoverPayload,
  'hub:list_actors': listActorsPayload,
  'hub:refresh_token': refreshTokenPayload,
  'hub:metrics': emptyPayload,
  'hub:send': sendPayload,
  'hub:broadcast': broadcastPayload,
  'hub:subscribe': subscribePayload,
  'hub:unsubscribe': unsubscribePayload,
  'hub:publish': publishPayload,
  'hub:pause': flowPayload,
  'hub:resume': flowPayload,
  'hub:queue_stats': emptyPayload,
} as const;

export type RequestType = keyof typeof requestSchemas;
export type Requests = { [K in RequestType]: z.input<(typeof requestSchemas)[K]> };
export type ParsedRequests = { [K in RequestType]: z.output<(typeof requestSchemas)[K]> };

/**
 * Requests whose `from` reaches other actors: the hub forwards a frame carrying
 * it. Only these must come from an address the session holds; every other
 * request is answered to the requester alone, so its `from` merely addresses
 * the reply (0.1.0 clients register from the address being registered and
 * heartbeat from a fixed address).
 */
export const FORWARDING_TYPES: ReadonlySet<string> = new Set(['hub:send', 'hub:broadcast', 'hub:publish']);

/** Types that do not spend rate-limit tokens (contract §7). */
export const RATE_LIMIT_EXEMPT: ReadonlySet<string> = new Set(['hub:connect', 'hub:heartbeat', 'hub:disconnect']);

// ---- Idempotent requests (issue 14 B): see docs/PROTOCOL.md "Idempotent requests".
/** Requests a client may resend with the same envelope id: the hub acts once and repeats its first answer. */
export const IDEMPOTENT_TYPES: ReadonlySet<string> = new Set(['hub:send', 'hub:broadcast', 'hub:publish', 'hub:register', 'hub:subscribe']);

export const isRequestType = (type: string): type is RequestType => Object.hasOwn(requestSchemas, type);
