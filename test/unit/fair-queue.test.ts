import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FairQueue, type FairQueueLimits } from '../../src/runtime/fair-queue';

/**
 * The fair queue alone, with the runtime's "later" as a list of callbacks the
 * test runs when it likes: what it holds, what it hands on and in what order.
 */
const LIMITS: FairQueueLimits = { streak: 3, slice: 2, maxChars: 40 };

const setup = (limits = LIMITS) => {
  const handled: string[] = [];
  const turns: (() => void)[] = [];
  const queue = new FairQueue((connId, data) => handled.push(`${connId}:${String(data)}`), (run) => turns.push(run), limits);
  /** Frames the caller handles itself when the queue does not hold them, as the adapter does. */
  const arrive = (connId: string, data: string): boolean => {
    const held = queue.hold(connId, data);
    if (!held) handled.push(`${connId}:${data}`);
    return held;
  };
  const runTurn = (): boolean => {
    const run = turns.shift();
    run?.();
    return run !== undefined;
  };
  return { queue, handled, turns, arrive, runTurn };
};

describe('FairQueue', () => {
  it('hands a short run of one socket straight back, then holds the rest and lets another socket in first', () => {
    const { arrive, handled, runTurn, turns, queue } = setup();
    expect(['a1', 'a2', 'a3'].map((d) => arrive('a', d))).toEqual([false, false, false]);
    expect(arrive('a', 'a4')).toBe(true);
    expect(arrive('a', 'a5')).toBe(true);
    expect(turns).toHaveLength(1); // one turn is asked for, however many frames wait
    expect(arrive('b', 'b1')).toBe(false); // b has nothing held: handled now, ahead of a4 and a5
    expect(arrive('a', 'a6')).toBe(true); // a still has frames held: a6 queues behind them, though b broke the run
    expect(handled).toEqual(['a:a1', 'a:a2', 'a:a3', 'b:b1']);
    expect(runTurn()).toBe(true); // slice 2
    expect(handled.slice(4)).toEqual(['a:a4', 'a:a5']);
    expect(queue.size).toBe(1);
    expect(runTurn()).toBe(true);
    expect(handled.slice(6)).toEqual(['a:a6']);
    expect(queue.size).toBe(0);
    expect(runTurn()).toBe(false); // nothing left, no turn asked for
  });

  it('drain hands on every held frame at once, in arrival order', () => {
    const { arrive, handled, queue } = setup();
    for (let i = 1; i <= 6; i++) arrive('a', `a${i}`);
    queue.drain();
    expect(handled).toEqual(['a:a1', 'a:a2', 'a:a3', 'a:a4', 'a:a5', 'a:a6']);
    expect(queue.size).toBe(0);
  });

  it('over its character bound hands on its oldest frames first, so it never holds more', () => {
    const { arrive, handled, queue } = setup({ streak: 1, slice: 8, maxChars: 10 });
    arrive('a', 'xxxx0');
    arrive('a', 'xxxx1'); // held: 5 chars
    arrive('a', 'xxxx2'); // held: 10 chars
    expect(handled).toEqual(['a:xxxx0']);
    arrive('a', 'xxxx3'); // 15 > 10: xxxx1 goes first
    expect(handled).toEqual(['a:xxxx0', 'a:xxxx1']);
    expect(queue.size).toBe(2);
    expect(arrive('a', 'y'.repeat(11))).toBe(false); // larger than the bound alone: the rest first, then it, now
    expect(handled).toEqual(['a:xxxx0', 'a:xxxx1', 'a:xxxx2', 'a:xxxx3', `a:${'y'.repeat(11)}`]);
    expect(queue.size).toBe(0);
  });

  it('clear forgets what it held, as a crash does', () => {
    const { arrive, handled, queue, runTurn } = setup();
    for (let i = 1; i <= 5; i++) arrive('a', `a${i}`);
    queue.clear();
    runTurn();
    expect(handled).toEqual(['a:a1', 'a:a2', 'a:a3']);
    expect(arrive('a', 'a6')).toBe(false); // a new run starts after a crash
  });

  it('a backlog that never empties keeps its order and does not grow the queue without end', () => {
    const { arrive, handled, runTurn, queue } = setup({ streak: 1, slice: 2, maxChars: 1 << 20 });
    // Three frames come in per turn and two are handed on: the backlog grows by one each turn and never empties.
    for (let i = 0; i < 3000; i++) {
      for (let k = 0; k < 3; k++) arrive('a', `${3 * i + k}`);
      runTurn();
    }
    expect(queue.size).toBe(9000 - 1 - 2 * 3000); // the first frame was handled at once, then 2 per turn
    const slots = (queue as unknown as { held: unknown[] }).held.length;
    expect(slots).toBeLessThan(2 * queue.size + 1024);
    queue.drain();
    expect(handled).toEqual(Array.from({ length: 9000 }, (_, i) => `a:${i}`));
  });

  it('a handler that throws does not strand the frames behind it', () => {
    const turns: (() => void)[] = [];
    const handled: string[] = [];
    const queue = new FairQueue(
      (_c, data) => {
        if (data === 'boom') throw new Error('boom');
        handled.push(String(data));
      },
      (run) => turns.push(run),
      { streak: 1, slice: 4, maxChars: 100 },
    );
    expect(queue.hold('a', 'inline')).toBe(false); // the caller handles it
    for (const d of ['boom', 'x', 'y']) expect(queue.hold('a', d)).toBe(true);
    expect(() => turns.shift()!()).toThrow('boom');
    expect(turns).toHaveLength(1); // the next turn is asked for all the same
    turns.shift()!();
    expect(handled).toEqual(['x', 'y']);
  });

  /** Arrivals from three sockets, turns of the runtime, and drains (another event), in any order. */
  const step = fc.oneof(
    { arbitrary: fc.record({ kind: fc.constant('frame' as const), conn: fc.constantFrom('a', 'b', 'c'), size: fc.integer({ min: 1, max: 12 }) }), weight: 8 },
    { arbitrary: fc.constant({ kind: 'turn' as const }), weight: 2 },
    { arbitrary: fc.constant({ kind: 'drain' as const }), weight: 1 },
  );

  it('hands on every frame exactly once, each socket in its own order, within its bound, and never holds a socket that has nothing held and is not on a run', () => {
    fc.assert(
      fc.property(fc.array(step, { maxLength: 80 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 3 }), (steps, streak, slice) => {
        const limits = { streak, slice, maxChars: 30 };
        const { arrive, handled, runTurn, queue } = setup(limits);
        const sent: string[] = [];
        let last: string | null = null;
        let run = 0;
        let n = 0;
        for (const s of steps) {
          if (s.kind === 'turn') runTurn();
          else if (s.kind === 'drain') {
            queue.drain();
            expect(queue.size).toBe(0);
          } else {
            const data = `${n++}`.padEnd(s.size, '.');
            run = s.conn === last ? run + 1 : 1;
            last = s.conn;
            const waiting = sent.filter((f) => f.startsWith(`${s.conn}:`) && !handled.includes(f)).length;
            sent.push(`${s.conn}:${data}`);
            const held = arrive(s.conn, data);
            // Held only for a run longer than the streak, or behind the socket's own held frames.
            expect(held).toBe(run > streak || waiting > 0);
          }
          let chars = 0;
          for (const f of sent) if (!handled.includes(f)) chars += f.length - 2;
          expect(chars).toBeLessThanOrEqual(limits.maxChars);
          expect(queue.size).toBe(sent.length - handled.length);
        }
        while (runTurn());
        expect([...handled].sort()).toEqual([...sent].sort());
        for (const conn of ['a', 'b', 'c']) {
          const mine = (list: string[]) => list.filter((f) => f.startsWith(`${conn}:`));
          expect(mine(handled)).toEqual(mine(sent));
        }
      }),
      { numRuns: 300 },
    );
  });
});
