import { describe, expect, it } from 'vitest';
import { inTurn } from '../../bench/targets';

/**
 * The bench's comparisons rest on every side being measured alike: an
 * unmeasured first run each (a cold isolate's compile work is not a
 * message's cost) and rounds that start with a different side each time.
 */
describe('inTurn (bench run order)', () => {
  const record = async (sides: string[], repeat: number, smoke: boolean) => {
    const calls: string[] = [];
    let n = 0;
    const runs = await inTurn(sides, { repeat, smoke }, async (side) => {
      calls.push(side);
      return `${side}${n++}`;
    }, async (side) => {
      calls.push(`quiet:${side}`);
    });
    return { calls, runs };
  };

  it('runs each side once unmeasured, then rotates which side goes first', async () => {
    const { calls, runs } = await record(['a', 'b', 'c'], 2, false);
    expect(calls.filter((c) => !c.startsWith('quiet:'))).toEqual(['a', 'b', 'c', 'a', 'b', 'c', 'b', 'c', 'a']);
    // The warm-up results (a0, b1, c2) are not reported.
    expect(runs).toEqual([['a3', 'a8'], ['b4', 'b6'], ['c5', 'c7']]);
  });

  it('waits for quiet before every run, warm-up included', async () => {
    const { calls } = await record(['a', 'b'], 1, false);
    expect(calls).toEqual(['quiet:a', 'a', 'quiet:b', 'b', 'quiet:a', 'a', 'quiet:b', 'b']);
  });

  it('skips the warm-up with --smoke', async () => {
    const { runs, calls } = await record(['a', 'b'], 1, true);
    expect(calls).toEqual(['quiet:a', 'a', 'quiet:b', 'b']);
    expect(runs).toEqual([['a0'], ['b1']]);
  });
});
