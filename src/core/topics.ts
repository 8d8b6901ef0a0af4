import { key, SEP } from './kv-store';
import { NS } from './namespaces';
import type { Turn } from './turn';

/**
 * Topic subscriptions, stored three ways so each question is one prefix scan:
 * by topic (who gets a publication), by id (unsubscribe by id) and by
 * connection (release everything of a closing session in O(its topics)).
 */
export interface Subscription {
  subscriptionId: string;
  topic: string;
  address: string;
  connId: string;
}

const BY_TOPIC = NS.subByTopic;
const BY_ID = NS.subById;
const BY_CONN = NS.subByConn;

/** The namespaces HubCore keeps in memory (kv-cache.ts): every publication scans them. */
export const SUBSCRIPTION_NAMESPACES: ReadonlySet<string> = new Set([BY_TOPIC, BY_ID, BY_CONN]);

export const findSubscription = (turn: Turn, topic: string, address: string): Subscription | null =>
  turn.host.kv.get<Subscription>(BY_TOPIC, key(topic, address));

export const subscriptionById = (turn: Turn, id: string): Subscription | null => turn.host.kv.get<Subscription>(BY_ID, id);

export const addSubscription = (turn: Turn, sub: Subscription): void => {
  const { kv } = turn.host;
  kv.put(BY_TOPIC, key(sub.topic, sub.address), sub);
  kv.put(BY_ID, sub.subscriptionId, sub);
  kv.put(BY_CONN, key(sub.connId, sub.topic, sub.address), sub.subscriptionId);
};

export const removeSubscription = (turn: Turn, sub: Subscription): void => {
  const { kv } = turn.host;
  kv.delete(BY_TOPIC, key(sub.topic, sub.address));
  kv.delete(BY_ID, sub.subscriptionId);
  kv.delete(BY_CONN, key(sub.connId, sub.topic, sub.address));
};

export const subscribersOf = (turn: Turn, topic: string): Subscription[] =>
  turn.host.kv.scan<Subscription>(BY_TOPIC, topic + SEP).map(([, s]) => s);

export const subscriptionsOfConn = (turn: Turn, connId: string): Subscription[] => {
  const ids = turn.host.kv.scan<string>(BY_CONN, connId + SEP).map(([, id]) => id);
  return ids.map((id) => subscriptionById(turn, id)).filter((s): s is Subscription => s !== null);
};

export const releaseSubscriptions = (turn: Turn, connId: string): number => {
  const subs = subscriptionsOfConn(turn, connId);
  for (const sub of subs) removeSubscription(turn, sub);
  return subs.length;
};

/** Distinct topics with at least one subscriber (for metrics; walks subscriptions, not run per message). */
export const topicCount = (turn: Turn): number => {
  const topics = new Set<string>();
  for (const [k] of turn.host.kv.scan<Subscription>(BY_TOPIC, '')) topics.add(k.slice(0, k.indexOf(SEP)));
  return topics.size;
};

/** Subscriber count of every topic, for the operator dashboard. */
export const subscribersByTopic = (turn: Turn): Map<string, number> => {
  const topics = new Map<string, number>();
  for (const [k] of turn.host.kv.scan<Subscription>(BY_TOPIC, '')) {
    const topic = k.slice(0, k.indexOf(SEP));
    topics.set(topic, (topics.get(topic) ?? 0) + 1);
  }
  return topics;
};
