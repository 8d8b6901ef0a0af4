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
  /** The last held count the queue reported for each socket. */
  const counts = new Map<string, number>();
  const queue = new FairQueue(
    (connId, data) => handled.push(`${connId}:${String(data)}`),
    (run) => turns.push(run),
    limits,
    (connId, held) => counts.set(connId, held),
  );
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
  return { queue, handled, turns, arrive, runTurn, counts };
};

describe('FairQueue', () => {
  it('handles a short burst at once, holds the frames after it, and gives each socket with frames held one in turn', () => {
    const { arrive, handled, runTurn, turns, queue } = setup();
    expect(['a1', 'a2', 'a3'].map((d) => arrive('a', d))).toEqual([false, false, false]);
    expect(turns).toHaveLength(1); // the turn that ends the burst
    expect(arrive('a', 'a4')).toBe(true);
    expect(arrive('a', 'a5')).toBe(true);
    expect(arrive('b', 'b1')).toBe(true); // the burst counts every socket's frames: b waits for the turn too
    expect(arrive('a', 'a6')).toBe(true);
    expect(turns).toHaveLength(1); // one turn is asked for, however many frames wait
    expect(handled).toEqual(['a:a1', 'a:a2', 'a:a3']);
    expect(runTurn()).toBe(true); // slice 2: one of a's, then b's, though a held three before b's came
    expect(handled.slice(3)).toEqual(['a:a4', 'b:b1']);
    expect(queue.size).toBe(2);
    // The turn ended the burst: a socket with nothing held is handled at once again.
    expect(arrive('c', 'c1')).toBe(false);
    expect(arrive('a', 'a7')).toBe(true); // a still has frames held: a7 queues behind them
    expect(handled.slice(5)).toEqual(['c:c1']);
    expect(runTurn()).toBe(true);
    expect(handled.slice(6)).toEqual(['a:a5', 'a:a6']);
    expect(runTurn()).toBe(true);
    expect(handled.slice(8)).toEqual(['a:a7']);
    expect(queue.size).toBe(0);
    expect(runTurn()).toBe(false); // nothing left, no turn asked for (c1's was already pending)
  });

  it('holds a socket\'s run longer than the streak even when the runtime runs a turn between its frames', () => {
    const { arrive, handled, runTurn } = setup();
    for (const d of ['a1', 'a2', 'a3']) {
      expect(arrive('a', d)).toBe(false);
      runTurn(); // the runtime ran its timers: no burst, but still one socket's run
    }
    expect(arrive('a', 'a4')).toBe(true);
    expect(arrive('b', 'b1')).toBe(false); // another socket, nothing held, no burst: at once
    expect(arrive('a', 'a5')).toBe(true); // b broke a's run, but a has a frame held: a5 queues behind it
    expect(handled).toEqual(['a:a1', 'a:a2', 'a:a3', 'b:b1']);
    runTurn();
    expect(handled.slice(4)).toEqual(['a:a4', 'a:a5']);
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

  it('a backlog that never empties keeps its order and does not grow its array without end', () => {
    const { arrive, handled, runTurn, queue } = setup({ streak: 1, slice: 3, maxChars: 1 << 20 });
    for (let i = 0; i < 6; i++) arrive('a', `${i}`); // 0 at once, 5 held
    // Three frames come in per turn and three are handed on: five stay held and the backlog never empties.
    for (let i = 2; i < 3002; i++) {
      for (let k = 0; k < 3; k++) arrive('a', `${3 * i + k}`);
      runTurn();
    }
    expect(queue.size).toBe(5);
    const backlog = (queue as unknown as { backlogs: Map<string, { frames: unknown[] }> }).backlogs.get('a')!;
    // Handed-on slots are dropped once 1024 of them make up at least half the array (9000 slots without).
    expect(backlog.frames.length).toBeLessThanOrEqual(1024 + queue.size);
    queue.drain();
    expect(handled).toEqual(Array.from({ length: 9006 }, (_, i) => `a:${i}`));
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

  it('hands on every frame exactly once, each socket in its own order, within its bound, reporting each socket\'s held count; holds a frame only after a burst, on a long run or behind its socket\'s own; serves the sockets with frames held in turn', () => {
    fc.assert(
      fc.property(fc.array(step, { maxLength: 100 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 20, max: 100 }), (steps, streak, slice, maxChars) => {
        const limits = { streak, slice, maxChars };
        const { arrive, handled, runTurn, queue, counts } = setup(limits);
        const sent: string[] = [];
        const waitingOf = (conn: string) => sent.filter((f) => f.startsWith(`${conn}:`) && !handled.includes(f)).length;
        /** Frames handled as they came since the last turn ran. */
        let burst = 0;
        /** The last frame's socket, and its frames in a row. */
        let last: string | null = null;
        let run = 0;
        let n = 0;
        for (const s of steps) {
          if (s.kind === 'turn') {
            const before = new Map(['a', 'b', 'c'].map((c) => [c, waitingOf(c)]));
            const count = handled.length;
            if (runTurn()) burst = 0;
            // In turn: two sockets that had frames held before the turn and still have some got as many, give or take one.
            const got = new Map<string, number>();
            for (const f of handled.slice(count)) got.set(f[0]!, (got.get(f[0]!) ?? 0) + 1);
            const stayed = ['a', 'b', 'c'].filter((c) => before.get(c)! > 0 && waitingOf(c) > 0);
            for (const x of stayed) for (const y of stayed) expect(Math.abs((got.get(x) ?? 0) - (got.get(y) ?? 0))).toBeLessThanOrEqual(1);
          } else if (s.kind === 'drain') {
            queue.drain();
            expect(queue.size).toBe(0);
          } else {
            const data = `${n++}`.padEnd(s.size, '.');
            const waiting = waitingOf(s.conn);
            run = s.conn === last ? run + 1 : 1;
            last = s.conn;
            sent.push(`${s.conn}:${data}`);
            const held = arrive(s.conn, data);
            // Held only after a burst of `streak` frames with no turn between, on a socket's run longer than
            // `streak` (no other socket's frame between), or behind the socket's own held frames.
            expect(held).toBe(burst >= streak || run > streak || waiting > 0);
            if (!held) burst++;
          }
          let chars = 0;
          for (const f of sent) if (!handled.includes(f)) chars += f.length - 2;
          expect(chars).toBeLessThanOrEqual(limits.maxChars);
          expect(queue.size).toBe(sent.length - handled.length);
          // Every change of a socket's held frames was reported: the last count is what it holds now.
          for (const c of ['a', 'b', 'c']) expect(counts.get(c) ?? 0).toBe(waitingOf(c));
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
