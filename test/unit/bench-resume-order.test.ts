import { describe, expect, it } from 'vitest';
import { notExactlyOnce } from '../../bench/scenarios/resume';

/**
 * The resume bench reports how many of N queued messages did not arrive
 * exactly once in their place; a zero there is what the README's
 * exactly-once claim rests on, so the count must see every kind of fault.
 */
describe('notExactlyOnce (bench resume scenario)', () => {
  it('is 0 only for 0..n-1 in order', () => {
    expect(notExactlyOnce([0, 1, 2, 3], 4)).toBe(0);
  });

  it('counts a missing tail message', () => {
    expect(notExactlyOnce([0, 1, 2], 4)).toBe(1);
  });

  it('counts a lost message in the middle, and everything it shifted', () => {
    expect(notExactlyOnce([0, 2, 3], 4)).toBe(3);
  });

  it('counts a duplicate', () => {
    expect(notExactlyOnce([0, 1, 1, 2, 3], 4)).toBeGreaterThan(0);
    expect(notExactlyOnce([0, 1, 2, 3, 3], 4)).toBe(1);
  });

  it('counts a swap as two misplaced messages', () => {
    expect(notExactlyOnce([1, 0, 2, 3], 4)).toBe(2);
  });

  it('never reports more than n', () => {
    expect(notExactlyOnce([], 4)).toBe(4);
    expect(notExactlyOnce([9, 9, 9, 9, 9, 9, 9, 9], 4)).toBe(4);
  });
});
