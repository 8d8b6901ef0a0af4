import { HUB_ADDRESS, type Envelope } from '../protocol/envelope';
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
  metadata: Record<string, unknown>;
}

let stringifyCalls = 0;
/** How many bodies were serialised so far (the fan-out test checks it does not grow per recipient). */
export const flatStringifyCount = (): number => stringifyCalls;

export const flatFrame = (spec: FlatSpec): FlatFrame => {
  // Last line of defence: a frame built here reaches other actors, and none may look like the hub's own.
  if (isReserved(spec.from)) throw new Error(`refusing to forward a frame from the reserved address ${spec.from}`);
  stringifyCalls++;
  const head = JSON.stringify({ id: spec.id, from: spec.from });
  const tail = JSON.stringify({
    type: spec.type,
    payload: spec.payload,
    pattern: 'tell',
    // Deliveries are never replies: clients match replies by correlationId.
    correlationId: null,
    timestamp: spec.timestamp,
    metadata: spec.metadata,
    ttl: spec.ttl,
    signature: null,
  });
  return { head: `${head.slice(0, -1)},"to":`, tail: `,${tail.slice(1)}` };
};

// Surrogates included: JSON.stringify escapes a lone one as "\ud800", which
// keeps the frame valid UTF-8 even if an ill-formed address ever got this far.
const NEEDS_ESCAPE = /["\\\u0000-\u001f\u2028\u2029\ud800-\udfff]/;
/** A JSON string literal for an address; addresses almost never need escaping. */
const quote = (s: string): string => (NEEDS_ESCAPE.test(s) ? JSON.stringify(s) : `"${s}"`);

export const frameFor = (flat: FlatFrame, to: string): string => flat.head + quote(to) + flat.tail;

/** Metadata every forwarded message carries: the sender's plus where it came from. */
export const forwardMetadata = (envelope: Envelope, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  ...envelope.metadata,
  ...extra,
  forwarded: true,
  via: HUB_ADDRESS,
  originalMessageId: envelope.id,
});
