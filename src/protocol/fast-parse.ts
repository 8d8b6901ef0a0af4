import { MAX_ADDRESS_PATH, type Envelope } from './envelope';
import { TOPIC_PATTERN, type ParsedRequests } from './messages';

/**
 * Hand-written checks for the frames on the hot path: the envelope and the
 * payloads of hub:send, hub:broadcast and hub:publish. zod stays the source
 * of truth: each function here returns exactly what the zod schema's
 * `safeParse` yields as `data`, or `undefined` when it cannot vouch for the
 * input, and the caller then runs zod, which accepts or produces the issues.
 * So these may only ever be stricter than zod, never looser;
 * test/unit/fast-parse.test.ts checks both directions on random input.
 *
 * Precondition: every string in the value is well-formed. handleFrame
 * refuses any other frame before this runs (`illFormedIssue`,
 * strings.ts), so the schemas' well-formedness refinements hold by then and
 * are not checked a second time here.
 *
 * Why: zod's generic object walk was ~20 % of a routed tell's CPU (issue 11),
 * for inputs that are nearly always valid and of one fixed shape.
 */

type Obj = Record<string, unknown>;

const isObject = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** z.string().min(min).max(max): lengths in UTF-16 code units, as zod counts them. */
const isStr = (v: unknown, min: number, max: number): v is string =>
  typeof v === 'string' && v.length >= min && v.length <= max;

const ADDRESS_PATTERN = /^@\([^)]+\)$/;
const isAddress = (v: unknown): v is string => isStr(v, 0, MAX_ADDRESS_PATH + 3) && ADDRESS_PATTERN.test(v);

/** `.nullable().optional()`: absent, undefined or null all read as null. */
const isNullish = (v: unknown): v is null | undefined => v === undefined || v === null;

/**
 * z.record(z.string(), z.unknown()) copies the record and drops an own
 * `__proto__` key (JSON.parse makes one for `"__proto__":…`); that rare case
 * is left to zod. Otherwise the input object is returned itself: it holds the
 * same entries in the same order, and the parsed frame is not used elsewhere.
 */
const metadataOf = (v: unknown): Obj | undefined => {
  if (isNullish(v)) return {};
  if (!isObject(v) || Object.hasOwn(v, '__proto__')) return undefined;
  return v;
};

/** envelopeSchema.safeParse(obj).data, or undefined (then ask zod). */
export const fastEnvelope = (obj: Obj): Envelope | undefined => {
  const { id, from, to, type, pattern, timestamp, correlationId, ttl, signature } = obj;
  if (!isStr(id, 1, 256) || !isAddress(from) || !isAddress(to) || !isStr(type, 1, 256)) return undefined;
  if ((pattern !== 'tell' && pattern !== 'ask') || typeof timestamp !== 'number' || !Number.isFinite(timestamp)) return undefined;
  if (!isNullish(correlationId) && typeof correlationId !== 'string') return undefined;
  if (!isNullish(ttl) && (typeof ttl !== 'number' || !Number.isFinite(ttl) || ttl < 0)) return undefined;
  if (!isNullish(signature) && typeof signature !== 'string') return undefined;
  
  const metadata = metadataOf(obj.metadata);
  if (metadata === undefined) return undefined;
  const payload = obj.payload;
  // Key order as zod builds its output (the schema's order).
  return {
    id,
    from,
    to,
    type,
    payload: payload === undefined ? null : payload,
    pattern,
    correlationId: correlationId ?? null,
    timestamp,
    metadata,
    ttl: ttl ?? null,
    signature: signature ?? null,
  };
};

type Fast<K extends keyof ParsedRequests> = (payload: unknown) => ParsedRequests[K] | undefined;

/** `data: z.unknown().optional()` keeps the key when the input has it, whatever its value. */
const withData = <T extends Obj>(out: T, p: Obj): T & { data?: unknown } => {
  if (Object.hasOwn(p, 'data')) (out as Obj).data = p.data;
  return out;
};

const fastSend: Fast<'hub:send'> = (p) => {
  if (!isObject(p) || !isStr(p.type, 1, 256)) return undefined;
  const to = p.to;
  if (Object.hasOwn(p, 'to')) {
    if (to !== undefined && !isStr(to, 1, 1024)) return undefined;
    return withData({ to: to as string | undefined, type: p.type }, p);
  }
  return withData({ type: p.type }, p);
};

const fastBroadcast: Fast<'hub:broadcast'> = (p) => {
  if (!isObject(p) || !isStr(p.type, 1, 256)) return undefined;
  const out = withData({ type: p.type }, p) as ParsedRequests['hub:broadcast'];
  if (Object.hasOwn(p, 'excludeSelf')) {
    const excludeSelf = p.excludeSelf;
    if (excludeSelf !== undefined && typeof excludeSelf !== 'boolean') return undefined;
    out.excludeSelf = excludeSelf;
  }
  return out;
};

const fastPublish: Fast<'hub:publish'> = (p) => {
  if (!isObject(p) || typeof p.topic !== 'string' || !TOPIC_PATTERN.test(p.topic) || !isStr(p.type, 1, 256)) return undefined;
  return withData({ topic: p.topic, type: p.type }, p);
};

/** The payload types with a fast check; every other type goes to zod directly. */
export const fastPayloads: { readonly [K in keyof ParsedRequests]?: Fast<K> } = {
  'hub:send': fastSend,
  'hub:broadcast': fastBroadcast,
  'hub:publish': fastPublish,
};
