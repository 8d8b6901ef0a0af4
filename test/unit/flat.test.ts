import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { flatFrame, forwardMetadata, forwardMetadataJson, frameFor } from '../../src/core/flat';
import type { Envelope } from '../../src/protocol/envelope';

/**
 * The forwarded frame is written by concatenation (flat.ts); it must be the
 * very text JSON.stringify gives for the message object, for any strings
 * (escapes, U+2028, surrogates paired or not), numbers and metadata,
 * including sender metadata that sets the keys the hub adds itself.
 */

const RUNS = Number(process.env.FC_RUNS ?? 1000);
const str = fc.oneof(
  fc.string({ maxLength: 10 }),
  fc.string({ unit: 'binary', maxLength: 6 }),
  fc.constantFrom('"', '\\', '\n', '\u2028', '\ud800', '\udc00x', '\u{1F600}', '@(a/b)', ''),
);
const finite = fc.double({ noNaN: true, noDefaultInfinity: true });
const HUB_KEYS = ['forwarded', 'via', 'originalMessageId', 'topic', 'publication', 'broadcast', '7', '__proto__'];
const metadata = fc
  .dictionary(fc.oneof(str, fc.constantFrom(...HUB_KEYS)), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 5 })
  .map((m) => JSON.parse(JSON.stringify(m)) as Record<string, unknown>);
const extra = fc.constantFrom(null, { broadcast: true }, { topic: 'news/1', publication: true });

describe('flat frames', () => {
  it('equal JSON.stringify of the forwarded message', () => {
    fc.assert(
      fc.property(
        fc.record({ id: str, from: str, to: str, type: str, origId: str, timestamp: finite, ttl: fc.option(finite) }),
        fc.jsonValue({ maxDepth: 3 }),
        metadata,
        extra,
        (f, payload, meta, more) => {
          const envelope = { id: f.origId, metadata: meta } as unknown as Envelope;
          const mergedJson = forwardMetadataJson(envelope, more);
          const merged = forwardMetadata(envelope, more ?? {});
          expect(mergedJson).toBe(JSON.stringify(merged));
          const flat = flatFrame({ id: f.id, from: f.from, type: f.type, payload, timestamp: f.timestamp, ttl: f.ttl, metadataJson: mergedJson });
          expect(frameFor(flat, f.to)).toBe(
            JSON.stringify({
              id: f.id,
              from: f.from,
              to: f.to,
              type: f.type,
              payload,
              pattern: 'tell',
              correlationId: null,
              timestamp: f.timestamp,
              metadata: merged,
              ttl: f.ttl,
              signature: null,
            }),
          );
        },
      ),
      { numRuns: RUNS },
    );
  });
});
