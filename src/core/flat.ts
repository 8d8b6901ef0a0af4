import { HUB_ADDRESS, type Envelope } from '../protocol/envelope';
import { isEmptyObject, quote } from './json-text';
import { isReserved } from './reserved';

/**
 * A forwarded ("flat") message, serialised once with a hole where `to` goes.
 * Every recipient's frame is `head + quote(address) + tail`, so fanning out
 * to N recipients costs N string concatenations and no JSON.stringify calls.
 */
export interface FlatFrame {
  head: string;
  tail: string;
}

export interface FlatSpec {
  id: string;
  from: string;
  type: string;
  payload: unknown;
  timestamp: number;
  ttl: number | null;
  /** The merged metadata, already JSON (`forwardMetadataJson`). */
  metadataJson: string;
}

let stringifyCalls = 0;
/** How many bodies were serialised so far (the fan-out test checks it does not grow per recipient). */
export const flatStringifyCount = (): number => stringifyCalls;

/**
 * The text JSON.stringify gives for the message object
 * `{ id, from, to, type, payload, pattern: 'tell', correlationId: null,
 * timestamp, metadata, ttl, signature: null }`, split around `to`, written by
 * concatenation: building that object and its merged metadata, then cutting
 * the result apart, was most of this module's ~10 % of a routed tell (issue
 * 11). Only the payload goes through JSON.stringify. Finite numbers print the
 * same through String() as through JSON.stringify (timestamps and ttls are
 * finite: the envelope schema says so). test/unit/flat.test.ts compares
 * with JSON.stringify of the object on random input.
 */
export const flatFrame = (spec: FlatSpec): FlatFrame => {
  // Last line of defence: a frame built here reaches other actors, and none may look like the hub's own.
  if (isReserved(spec.from)) throw new Error(`refusing to forward a frame from the reserved address ${spec.from}`);
  stringifyCalls++;
  const head = '{"id":' + quote(spec.id) + ',"from":' + quote(spec.from) + ',"to":';
  // Deliveries are never replies (correlationId null): clients match replies by correlationId.
  const tail =
    ',"type":' + quote(spec.type) +
    ',"payload":' + JSON.stringify(spec.payload) +
    ',"pattern":"tell","correlationId":null,"timestamp":' + String(spec.timestamp) +
    ',"metadata":' + spec.metadataJson +
    ',"ttl":' + (spec.ttl === null ? 'null' : String(spec.ttl)) +
    ',"signature":null}';
  return { head, tail };
};

export const frameFor = (flat: FlatFrame, to: string): string => flat.head + quote(to) + flat.tail;

/** Metadata every forwarded message carries: the sender's plus where it came from. */
export const forwardMetadata = (envelope: Envelope, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  ...envelope.metadata,
  ...extra,
  forwarded: true,
  via: HUB_ADDRESS,
  originalMessageId: envelope.id,
});

const FORWARD_KEYS = ['forwarded', 'via', 'originalMessageId'] as const;
const VIA_JSON = JSON.stringify(HUB_ADDRESS);
const FORWARD_ONLY = '{"forwarded":true,"via":' + VIA_JSON + ',"originalMessageId":';

/**
 * `JSON.stringify(forwardMetadata(envelope, extra))` without building the
 * merged object. When the sender's metadata has none of the keys the hub adds,
 * the merge only appends them, so the text is the sender's metadata with them
 * written before its closing brace; a sender that sets one of them itself (its
 * value is then replaced in place) takes the general path.
 */
export const forwardMetadataJson = (envelope: Envelope, extra: Record<string, unknown> | null = null): string => {
  const metadata = envelope.metadata;
  // The usual case, no metadata of the sender's and none added: the text is fixed but for the id.
  if (extra === null && isEmptyObject(metadata)) return FORWARD_ONLY + quote(envelope.id) + '}';
  for (const key of FORWARD_KEYS) if (Object.hasOwn(metadata, key)) return JSON.stringify(forwardMetadata(envelope, extra ?? {}));
  let added = '';
  if (extra !== null) {
    for (const key in extra) {
      if (Object.hasOwn(metadata, key)) return JSON.stringify(forwardMetadata(envelope, extra));
      added += JSON.stringify(key) + ':' + JSON.stringify(extra[key]) + ',';
    }
  }
  const own = JSON.stringify(metadata);
  return (
    (own.length === 2 ? '{' : own.slice(0, -1) + ',') + added +
    '"forwarded":true,"via":' + VIA_JSON + ',"originalMessageId":' + quote(envelope.id) + '}'
  );
};
