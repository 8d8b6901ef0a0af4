import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isReserved, isReservedSlow } from '../../src/core/reserved';

/** The allocation-free reserved-address test must agree with the plain definition everywhere. */
describe('isReserved', () => {
  const piece = fc.oneof(
    fc.constantFrom('cloudflare', 'CloudFlare', 'CLOUDFLARE', 'cloudflar', 'cloudflarex', 'cloudflare/', '/', '@(', ')', 'İ', 'K', 'ſ', 'ﬀ', 'ß'),
    fc.string({ maxLength: 4 }),
    fc.string({ unit: 'grapheme', maxLength: 3 }),
  );
  it('matches the reference on random addresses', () => {
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 5 }), (parts) => {
        const s = parts.join('');
        for (const a of [s, `@(${s})`]) expect(isReserved(a)).toBe(isReservedSlow(a));
      }),
      { numRuns: 5000 },
    );
  });
  it('knows the obvious cases', () => {
    for (const a of ['@(cloudflare)', '@(cloudflare/signal-hub)', '@(CloudFlare/x)', 'cloudflare']) expect(isReserved(a)).toBe(true);
    for (const a of ['@(cloudflarex)', '@(x/cloudflare)', '@(cloudflar)', '@()']) expect(isReserved(a)).toBe(false);
  });
});
