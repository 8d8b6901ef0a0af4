import { describe, expect, it } from 'vitest';
import type { FlatFrame } from '../../src/core/flat';
import { NS } from '../../src/core/namespaces';
import { TopicHistory } from '../../src/core/topic-history';
import { MemoryKvStore } from '../../harness/memory-kv-store';

const CONFIG = { topicHistorySize: 3, topicHistoryTtlMs: 10_000 };

const epochs = () => {
  let n = 0;
  return () => `epoch-${++n}`;
};

/** Publishes one numbered frame and returns its position. */
const publish = (h: TopicHistory, topic: string, n: number, now: number) => {
  const at = h.next(topic)!;
  const frame: FlatFrame = { head: `h${n}`, tail: `t${n}` };
  h.store(topic, at, frame, now);
  return at;
};

describe('TopicHistory', () => {
  it('numbers publications 1, 2, 3 in one epoch, and a subscriber learns the position before the first', () => {
    const h = new TopicHistory(new MemoryKvStore(), CONFIG, epochs());
    expect(h.position('room')).toEqual({ offset: 0, epoch: 'epoch-1' });
    expect(publish(h, 'room', 1, 0)).toEqual({ offset: 1, epoch: 'epoch-1' });
    expect(publish(h, 'room', 2, 0)).toEqual({ offset: 2, epoch: 'epoch-1' });
    // Topics are independent.
    expect(publish(h, 'other', 1, 0)).toEqual({ offset: 1, epoch: 'epoch-2' });
  });

  it('recovers exactly the publications after the given offset, in order', () => {
    const h = new TopicHistory(new MemoryKvStore(), CONFIG, epochs());
    for (let n = 1; n <= 3; n++) publish(h, 'room', n, n);
    expect(h.since('room', { offset: 1, epoch: 'epoch-1' }, 10)).toEqual({
      recovered: true,
      missed: [{ head: 'h2', tail: 't2' }, { head: 'h3', tail: 't3' }],
    });
    expect(h.since('room', { offset: 3, epoch: 'epoch-1' }, 10)).toEqual({ recovered: true, missed: [] });
  });

  it('says recovered: false when the offset left the window, the rows expired, or the epoch differs', () => {
    const kv = new MemoryKvStore();
    const h = new TopicHistory(kv, CONFIG, epochs());
    for (let n = 1; n <= 5; n++) publish(h, 'room', n, n * 1000);
    // Only 3..5 are kept; the oldest rows were deleted as they left.
    expect(kv.scan(NS.topicHistory, '')).toHaveLength(3);
    expect(h.since('room', { offset: 1, epoch: 'epoch-1' }, 6000).recovered).toBe(false);
    expect(h.since('room', { offset: 2, epoch: 'epoch-1' }, 6000).missed).toHaveLength(3);
    // Row 3 is older than the TTL at 13 000: from offset 2 something is gone.
    expect(h.since('room', { offset: 2, epoch: 'epoch-1' }, 13_000).recovered).toBe(false);
    expect(h.since('room', { offset: 3, epoch: 'epoch-1' }, 13_000).missed).toHaveLength(2);
    expect(h.since('room', { offset: 4, epoch: 'other' }, 6000).recovered).toBe(false);
    expect(h.since('room', { offset: 9, epoch: 'epoch-1' }, 6000).recovered).toBe(false);
  });

  it('survives a new instance over the same storage (a wake) and starts a new epoch when its state is gone', () => {
    const kv = new MemoryKvStore();
    publish(new TopicHistory(kv, CONFIG, epochs()), 'room', 1, 0);
    const woken = new TopicHistory(kv, CONFIG, () => 'epoch-new');
    expect(woken.next('room')).toEqual({ offset: 2, epoch: 'epoch-1' });
    const wiped = new TopicHistory(new MemoryKvStore(), CONFIG, () => 'epoch-new');
    expect(wiped.since('room', { offset: 1, epoch: 'epoch-1' }, 1).recovered).toBe(false);
    expect(wiped.position('room')).toEqual({ offset: 0, epoch: 'epoch-new' });
  });

  it('off (size 0): no position, nothing stored, and what was stored is dropped so that a later history is a new epoch', () => {
    const kv = new MemoryKvStore();
    publish(new TopicHistory(kv, CONFIG, epochs()), 'room', 1, 0);
    const off = new TopicHistory(kv, { ...CONFIG, topicHistorySize: 0 }, epochs());
    expect(off.next('room')).toBeNull();
    expect(off.since('room', { offset: 1, epoch: 'epoch-1' }, 1).recovered).toBe(false);
    expect(kv.scan(NS.topicHistory, '')).toHaveLength(0);
    expect(kv.scan(NS.topicMeta, '')).toHaveLength(0);
    const again = new TopicHistory(kv, CONFIG, () => 'epoch-later');
    expect(again.position('room')).toEqual({ offset: 0, epoch: 'epoch-later' });
  });

  it('a smaller size trims the surplus rows once and keeps the epoch', () => {
    const kv = new MemoryKvStore();
    const big = new TopicHistory(kv, { ...CONFIG, topicHistorySize: 10 }, epochs());
    for (let n = 1; n <= 6; n++) publish(big, 'room', n, 0);
    const small = new TopicHistory(kv, { ...CONFIG, topicHistorySize: 2 }, epochs());
    expect(small.since('room', { offset: 4, epoch: 'epoch-1' }, 1).missed).toEqual([{ head: 'h5', tail: 't5' }, { head: 'h6', tail: 't6' }]);
    expect(kv.scan(NS.topicHistory, '')).toHaveLength(2);
    expect(small.since('room', { offset: 3, epoch: 'epoch-1' }, 1).recovered).toBe(false);
  });
});
