import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hubFrameText, isEmptyObject, jsonText, quote } from '../../src/core/json-text';

/** The hub's frames are written by concatenation; they must be JSON.stringify's very text. */
const RUNS = Number(process.env.FC_RUNS ?? 1000);
const str = fc.oneof(
  fc.string({ maxLength: 10 }),
  fc.string({ unit: 'binary', maxLength: 6 }),
  fc.constantFrom('"', '\\', '\n', '\u2028', '\u2029', '\ud800', '\udc00x', '\u{1F600}', '@(a/b)', '', '\u007f'),
);
const scalar = fc.oneof(str, fc.double(), fc.constantFrom(null, undefined, true, false, -0, 1e21, 5e-324));
const value = fc.oneof(scalar, fc.jsonValue({ maxDepth: 2 }), fc.dictionary(str, scalar, { maxKeys: 3 }));

describe('json-text', () => {
  it('quote and jsonText equal JSON.stringify', () => {
    fc.assert(
      fc.property(str, value, (s, v) => {
        expect(quote(s)).toBe(JSON.stringify(s));
        expect(jsonText(v)).toBe(JSON.stringify(v));
      }),
      { numRuns: RUNS },
    );
  });

  it("hubFrameText equals JSON.stringify of the hub frame, keys in protocol order, absent payload included", () => {
    const payload = fc.oneof(value, fc.constant(undefined), fc.jsonValue({ maxDepth: 2 }));
    const metadata = fc.oneof(fc.constant({}), fc.dictionary(str, fc.jsonValue({ maxDepth: 1 }), { maxKeys: 3 }));
    fc.assert(
      fc.property(str, str, str, str, payload, fc.option(str), fc.double(), metadata, (id, hub, to, type, p, correlationId, timestamp, meta) => {
        const general = JSON.stringify({
          id,
          from: hub,
          to,
          type,
          payload: p,
          pattern: 'tell',
          correlationId,
          timestamp,
          metadata: meta,
          ttl: null,
          signature: null,
        });
        expect(hubFrameText(id, hub, to, type, p, correlationId, timestamp, meta)).toBe(general);
        expect(isEmptyObject(meta)).toBe(JSON.stringify(meta) === '{}');
      }),
      { numRuns: RUNS },
    );
  });
});
