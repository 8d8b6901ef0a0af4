import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { REPLAY_CHARS, REPLAY_FRAMES, rememberSent, takeRecent } from '../../src/core/replay';
import type { Session } from '../../src/core/session';

/**
 * The replay window keeps the newest frames sent to a resumable session, at
 * most REPLAY_FRAMES of them and REPLAY_CHARS characters (but always the
 * newest one). It is a ring; the model is the plain list it replaced.
 */
const session = (resumeGraceMs: number) => ({ snapshot: { context: { resumeGraceMs } } }) as unknown as Session;

const model = (sent: string[]): string[] => {
  const kept: string[] = [];
  let chars = 0;
  for (const frame of sent) {
    kept.push(frame);
    chars += frame.length;
    while (kept.length > REPLAY_FRAMES || (chars > REPLAY_CHARS && kept.length > 1)) chars -= kept.shift()!.length;
  }
  return kept;
};

describe('replay window', () => {
  it('keeps what the list model keeps, in order, across takes', () => {
    // Mostly small frames, now and then one big enough to push others out by size.
    const frame = fc.oneof(
      { arbitrary: fc.string({ maxLength: 8 }), weight: 8 },
      { arbitrary: fc.integer({ min: REPLAY_CHARS / 8, max: REPLAY_CHARS + 10 }).map((n) => 'x'.repeat(n)), weight: 1 },
    );
    const op = fc.oneof({ arbitrary: frame.map((f) => ({ send: f })), weight: 20 }, { arbitrary: fc.constant({ take: true as const }), weight: 1 });
    fc.assert(
      fc.property(fc.array(op, { maxLength: 300 }), (ops) => {
        const s = session(30_000);
        let sent: string[] = [];
        for (const o of ops) {
          if ('send' in o) {
            rememberSent(s, o.send);
            sent.push(o.send);
          } else {
            expect(takeRecent(s)).toEqual(model(sent));
            sent = [];
          }
        }
        expect(takeRecent(s)).toEqual(model(sent));
        expect(takeRecent(s)).toEqual([]);
      }),
      { numRuns: 200, seed: 11 },
    );
  });

  it('keeps nothing for a session without resume', () => {
    const s = session(0);
    rememberSent(s, 'a');
    expect(takeRecent(s)).toEqual([]);
  });
});
