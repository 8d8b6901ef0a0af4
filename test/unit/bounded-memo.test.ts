import { describe, expect, it } from 'vitest';
import { boundedMemo } from '../../src/core/bounded-memo';

/** An upper-casing memo of bound 2 that records every argument it actually computed. */
const upperWithCalls = () => {
  const calls: string[] = [];
  const upper = boundedMemo((s) => {
    calls.push(s);
    return s.toUpperCase();
  }, 2);
  return { calls, upper };
};

describe('boundedMemo', () => {
  it('computes each argument once while below its bound', () => {
    const { calls, upper } = upperWithCalls();
    expect([upper('a'), upper('b'), upper('a'), upper('b')]).toEqual(['A', 'B', 'A', 'B']);
    expect(calls).toEqual(['a', 'b']);
  });

  it('past its bound still answers right, computing the arguments it could not keep each time', () => {
    const { calls, upper } = upperWithCalls();
    for (const s of ['a', 'b', 'c', 'c', 'a']) upper(s);
    expect(upper('c')).toBe('C');
    expect(calls).toEqual(['a', 'b', 'c', 'c', 'c']);
  });
});
