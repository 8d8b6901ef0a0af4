import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { FairTurns } from '../../src/core/fair-turns';

describe('FairTurns', () => {
  it('yields once every N consecutive frames of one connection', () => {
    const turns = new FairTurns(4);
    const yields = Array.from({ length: 12 }, () => turns.after('a'));
    expect(yields).toEqual([false, false, false, true, false, false, false, true, false, false, false, true]);
  });

  it('never yields while connections interleave', () => {
    const turns = new FairTurns(2);
    for (let i = 0; i < 50; i++) expect(turns.after(i % 2 ? 'a' : 'b')).toBe(false);
  });

  it('a frame of another connection starts the count again', () => {
    const turns = new FairTurns(3);
    expect([turns.after('a'), turns.after('a'), turns.after('b'), turns.after('a'), turns.after('a'), turns.after('a')]).toEqual([
      false,
      false,
      false,
      false,
      false,
      true,
    ]);
  });

  it('yields exactly when a run of one connection reaches a multiple of N', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 9 }), fc.array(fc.constantFrom('a', 'b', 'c'), { maxLength: 200 }), (every, conns) => {
        const turns = new FairTurns(every);
        let sinceYield = 0;
        for (const [i, c] of conns.entries()) {
          const fresh = i === 0 || conns[i - 1] !== c;
          sinceYield = fresh ? 1 : sinceYield + 1;
          const expected = sinceYield >= every;
          if (expected) sinceYield = 0;
          expect(turns.after(c)).toBe(expected);
        }
      }),
    );
  });

  it('refuses a period that is not a positive integer', () => {
    expect(() => new FairTurns(0)).toThrow(/positive integer/);
    expect(() => new FairTurns(1.5)).toThrow(/positive integer/);
  });
});
