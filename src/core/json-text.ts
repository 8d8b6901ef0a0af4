/**
 * JSON text written by concatenation, byte for byte what JSON.stringify
 * writes. The hub's outgoing frames have a fixed key order, and building an
 * object per frame only to have JSON.stringify walk it again was the largest
 * single cost of a refused frame (~14 %, issue 11) and a large part of the
 * forwarded one. test/unit/json-text.test.ts compares with JSON.stringify.
 */

import { boundedMemo } from './bounded-memo';

/** Characters JSON.stringify may escape; any surrogate too, since it escapes the unpaired ones. */
const NEEDS_ESCAPE = /["\\\u0000-\u001f\u2028\u2029\ud800-\udfff]/;

/** A JSON string literal; ids, addresses and types almost never need escaping. */
export const quote = (s: string): string => (NEEDS_ESCAPE.test(s) ? JSON.stringify(s) : `"${s}"`);

/** JSON.stringify(v), with the common scalars written directly; undefined for what it omits. */
export const jsonText = (v: unknown): string | undefined => {
  if (typeof v === 'string') return quote(v);
  if (v === null) return 'null';
  // String() prints a finite number exactly as JSON.stringify does (-0 as 0 too).
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return JSON.stringify(v);
};

/** Whether JSON.stringify(o) is `{}`: no own enumerable key (a JSON.parse result has no inherited ones). */
export const isEmptyObject = (o: object): boolean => {
  for (const key in o) if (Object.hasOwn(o, key)) return false;
  return true;
};

/**
 * The hub's own address and its reply types are a handful of strings, each
 * quoted once instead of once per frame (a refused frame of a flood is one
 * of them). Bounded, in case a caller ever passes something else.
 */
const quotedConstant = boundedMemo(quote);

/**
 * JSON.stringify of a frame the hub writes itself (every reply and error),
 * keys in protocol order: `from` is the hub, `pattern` tell, `ttl` and
 * `signature` null, so only six fields vary and the rest is written as
 * constant text (test/unit/json-text.test.ts compares with JSON.stringify).
 * A writer with a call and an escape test per field was about half of a
 * refused frame's cost in the runtime (issue 11).
 */
export const hubFrameText = (
  id: string,
  hubAddress: string,
  to: string,
  type: string,
  payload: unknown,
  correlationId: string | null,
  timestamp: number,
  metadata: Record<string, unknown>,
): string => {
  const payloadText = jsonText(payload);
  return (
    '{"id":' + quote(id) +
    ',"from":' + quotedConstant(hubAddress) +
    ',"to":' + quote(to) +
    ',"type":' + quotedConstant(type) +
    (payloadText === undefined ? '' : ',"payload":' + payloadText) +
    ',"pattern":"tell","correlationId":' + (correlationId === null ? 'null' : quote(correlationId)) +
    ',"timestamp":' + jsonText(timestamp) +
    ',"metadata":' + (isEmptyObject(metadata) ? '{}' : JSON.stringify(metadata)) +
    ',"ttl":null,"signature":null}'
  );
};
