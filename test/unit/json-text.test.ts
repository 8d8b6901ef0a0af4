import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { JsonText, envelopeText, hubFrameText, isEmptyObject, jsonText, quote } from '../../src/core/json-text';

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

  it('envelopeText equals JSON.stringify of the envelope, absent and undefined fields included', () => {
    fc.assert(
      fc.property(
        str,
        fc.record(
          { from: value, to: value, type: value, payload: value, pattern: value, correlationId: value, metadata: value, ttl: value, signature: value },
          { requiredKeys: [] },
        ),
        fc.double(),
        (id, rest, timestamp) => {
          const fields = { id, ...rest, timestamp } as Parameters<typeof envelopeText>[0];
          const ordered = {
            id,
            from: fields.from,
            to: fields.to,
            type: fields.type,
            payload: fields.payload,
            pattern: fields.pattern,
            correlationId: fields.correlationId,
            timestamp,
            metadata: fields.metadata,
            ttl: fields.ttl,
            signature: fields.signature,
          };
          expect(envelopeText(fields)).toBe(JSON.stringify(ordered));
        },
      ),
      { numRuns: RUNS },
    );
  });

  it("hubFrameText is envelopeText of a hub frame (from the hub, tell, no ttl or signature)", () => {
    const payload = fc.oneof(value, fc.constant(undefined), fc.jsonValue({ maxDepth: 2 }).map((v) => new JsonText(JSON.stringify(v))));
    const metadata = fc.oneof(fc.constant({}), fc.dictionary(str, fc.jsonValue({ maxDepth: 1 }), { maxKeys: 3 }));
    fc.assert(
      fc.property(str, str, str, str, payload, fc.option(str), fc.double(), metadata, (id, hub, to, type, p, correlationId, timestamp, meta) => {
        const general = envelopeText({
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
