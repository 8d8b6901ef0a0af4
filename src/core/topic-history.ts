import type { TopicPosition } from '../protocol/messages';
import type { FlatFrame } from './flat';
import { key, seqKey, SEP, type KvStore } from './kv-store';
import { NS } from './namespaces';

/**
 * Each topic's recent publications (docs/PROTOCOL.md "Topic recovery"): the
 * last TOPIC_HISTORY_SIZE of them, none older than TOPIC_HISTORY_TTL_MS, each
 * with its offset (1, 2, 3, … per topic) in an epoch. The epoch names one
 * unbroken history: it is new whenever the hub cannot vouch for what came
 * before (the topic's stored state is gone, or history was turned off in
 * between), so a subscriber that presents an older epoch is told that it may
 * have missed publications instead of being handed a gap as if it were none.
 *
 * Storage is written only by a publication to a topic while history is on:
 * the position row and the publication's row, and the row that leaves the
 * window is deleted. The position is cached per instance; the rows are read
 * only by a subscribe that asks to recover.
 */

interface Meta {
  epoch: string;
  offset: number;
  /** The TOPIC_HISTORY_SIZE the rows were kept with, so a smaller one later trims the surplus once. */
  size: number;
}

interface Row {
  offset: number;
  at: number;
  head: string;
  tail: string;
}

export interface HistoryConfig {
  topicHistorySize: number;
  topicHistoryTtlMs: number;
}

export interface Recovery {
  recovered: boolean;
  /** The publications after the subscriber's offset, oldest first (empty unless recovered). */
  missed: FlatFrame[];
}

const rowKey = (topic: string, offset: number): string => key(topic, seqKey(offset));

export class TopicHistory {
  /** Positions read or written by this instance; null: the topic has none stored. */
  private readonly metas = new Map<string, Meta | null>();

  constructor(
    private readonly kv: KvStore,
    private readonly config: HistoryConfig,
    private readonly newEpoch: () => string,
  ) {}

  get on(): boolean {
    return this.config.topicHistorySize > 0;
  }

  /**
   * The topic's position now, started (offset 0, a new epoch) if it has none,
   * so that a subscriber knows where it stands before the first publication.
   * Null while history is off.
   */
  position(topic: string): TopicPosition | null {
    if (!this.settled(topic)) return null;
    const meta = this.meta(topic) ?? this.start(topic);
    return { offset: meta.offset, epoch: meta.epoch };
  }

  /** The position the next publication to `topic` takes; `store` must follow in the same turn. Null while off. */
  next(topic: string): TopicPosition | null {
    const current = this.position(topic);
    return current && { offset: current.offset + 1, epoch: current.epoch };
  }

  /** Keeps a publication at the position `next` gave, and lets the oldest one go. */
  store(topic: string, at: TopicPosition, frame: FlatFrame, now: number): void {
    const meta = this.meta(topic);
    if (!meta || meta.epoch !== at.epoch || at.offset !== meta.offset + 1) throw new Error(`topic history of ${topic} moved under a publication`);
    const size = this.config.topicHistorySize;
    meta.offset = at.offset;
    this.kv.put(NS.topicMeta, topic, meta);
    this.kv.put(NS.topicHistory, rowKey(topic, at.offset), { offset: at.offset, at: now, head: frame.head, tail: frame.tail } satisfies Row);
    if (at.offset > size) this.kv.delete(NS.topicHistory, rowKey(topic, at.offset - size));
  }

  /** What a subscriber that last saw `since` missed, if the hub still has all of it. */
  since(topic: string, since: TopicPosition, now: number): Recovery {
    const lost: Recovery = { recovered: false, missed: [] };
    if (!this.settled(topic)) return lost;
    const meta = this.meta(topic);
    if (!meta || meta.epoch !== since.epoch || since.offset > meta.offset) return lost;
    if (since.offset === meta.offset) return { recovered: true, missed: [] };
    // Oldest offset the window may still hold; anything older is gone whatever the TTL says.
    if (meta.offset - since.offset > this.config.topicHistorySize) return lost;
    const rows = this.kv
      .scan<Row>(NS.topicHistory, topic + SEP)
      .map(([, row]) => row)
      .filter((row) => row.offset > since.offset && row.offset <= meta.offset);
    const fresh = rows.filter((row) => now - row.at < this.config.topicHistoryTtlMs);
    // Every offset after the subscriber's, none missing and none expired, or nothing.
    if (fresh.length !== meta.offset - since.offset) return lost;
    fresh.sort((a, b) => a.offset - b.offset);
    return { recovered: true, missed: fresh.map((row) => ({ head: row.head, tail: row.tail })) };
  }

  // ---------------------------------------------------------------- internals

  private meta(topic: string): Meta | null {
    let meta = this.metas.get(topic);
    if (meta === undefined) {
      meta = this.kv.get<Meta>(NS.topicMeta, topic);
      this.metas.set(topic, meta);
    }
    return meta;
  }

  private start(topic: string): Meta {
    const meta: Meta = { epoch: this.newEpoch(), offset: 0, size: this.config.topicHistorySize };
    this.kv.put(NS.topicMeta, topic, meta);
    this.metas.set(topic, meta);
    return meta;
  }

  /**
   * Brings what is stored for `topic` in line with the configuration; returns
   * whether history is on. Off: anything stored is dropped, so that turning it
   * on again starts a new epoch (the publications in between were never kept).
   * A smaller size than the rows were kept with: the surplus goes once.
   */
  private settled(topic: string): boolean {
    const meta = this.meta(topic);
    const size = this.config.topicHistorySize;
    if (size === 0) {
      if (meta) {
        this.kv.delete(NS.topicMeta, topic);
        this.kv.deletePrefix(NS.topicHistory, topic + SEP);
        this.metas.set(topic, null);
      }
      return false;
    }
    if (meta && meta.size !== size) {
      for (let offset = meta.offset - meta.size + 1; offset <= meta.offset - size; offset++) {
        if (offset > 0) this.kv.delete(NS.topicHistory, rowKey(topic, offset));
      }
      meta.size = size;
      this.kv.put(NS.topicMeta, topic, meta);
    }
    return true;
  }
}
