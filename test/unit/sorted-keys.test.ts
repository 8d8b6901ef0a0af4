import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compareUtf8, SortedKeys } from '../../src/core/sorted-keys';

/** Keys kept in place on single inserts and removals must read exactly as a fresh sort of the source. */
describe('SortedKeys', () => {
  it('after any mix of adds, removals, bulk changes and scans, equals the source sorted by code point', () => {
    const key = fc.oneof(fc.string({ maxLength: 4 }), fc.constantFrom('a', 'a\u0000', '\uffff', '\u{1F600}', '\ue000', 'b'));
    const op = fc.oneof(
      fc.record({ kind: fc.constant('add' as const), key }),
      fc.record({ kind: fc.constant('remove' as const), key }),
      fc.record({ kind: fc.constant('bulk' as const), keys: fc.array(key, { maxLength: 3 }) }),
      fc.record({ kind: fc.constant('scan' as const), key }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
        const source = new Set<string>();
        const order = new SortedKeys(() => source.keys());
        for (const o of ops) {
          if (o.kind === 'add' && !source.has(o.key)) {
            source.add(o.key);
            order.add(o.key);
          } else if (o.kind === 'remove' && source.delete(o.key)) {
            order.remove(o.key);
          } else if (o.kind === 'bulk') {
            for (const k of o.keys) source.add(k);
            order.invalidate();
          } else if (o.kind === 'scan') {
            const expected = [...source].sort(compareUtf8);
            expect(order.all()).toEqual(expected);
            expect(order.lowerBound(o.key)).toBe(expected.filter((k) => compareUtf8(k, o.key) < 0).length);
          }
        }
        expect(order.all()).toEqual([...source].sort(compareUtf8));
      }),
      { numRuns: 500 },
    );
  });
});
