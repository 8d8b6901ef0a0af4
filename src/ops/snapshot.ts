import type { HubCore } from '../core/hub';
import { isPaused, queuedDeliveries } from '../core/delivery';
import type { KvStore } from '../core/kv-store';
import { stateOf, toAttachment, type SessionState } from '../core/session';
import { serializedSize } from '../core/session-budget';
import type { Counters } from '../core/stats';
import { topicCount } from '../core/topics';
import { Turn, type HubHost } from '../core/turn';

/**
 * Events only the Durable Object shell sees (the core never learns that it
 * was rebuilt after hibernation, or that the alarm fired as opposed to being
 * called). Each is rare compared with frames, so one small storage write per
 * event is affordable and the counts survive eviction like the core's base.
 */
export interface ShellCounters {
  /** The object was rebuilt while sessions were open: it had been evicted or hibernated. */
  wakes: number;
  alarmRuns: number;
  unreadableAttachments: number;
  /** Exceptions out of a core entry point (hub.internal_error). */
  internalErrors: number;
}

const SHELL_KEY = 'ops-shell';

export const shellCounters = (kv: KvStore): ShellCounters => ({
  wakes: 0,
  alarmRuns: 0,
  unreadableAttachments: 0,
  internalErrors: 0,
  ...kv.get<Partial<ShellCounters>>('meta', SHELL_KEY),
});

export const recordShellEvent = (kv: KvStore, field: keyof ShellCounters, by = 1): void => {
  const counters = shellCounters(kv);
  counters[field] += by;
  kv.put('meta', SHELL_KEY, counters);
};

const STATES: SessionState[] = ['connecting', 'registered', 'paused', 'rate-limited', 'suspended', 'closing'];

/** Everything /metrics reports about one hub, as the object sends it to the Worker. */
export interface HubSnapshot {
  counters: Counters;
  sessions: Record<string, number>;
  /** Sessions whose deliveries are held (client pause) or that the hub asked to slow down. */
  pausedSessions: number;
  actors: number;
  topics: number;
  queuedDeliveries: number;
  /**
   * The largest session attachment, by the same upper-bound estimate the
   * connect-time budget uses (src/core/session-budget.ts). The runtime refuses
   * attachments above 16 KiB; measured here, at scrape time only, so the hot
   * path never pays for it.
   */
  maxAttachmentBytes: number;
  shell: ShellCounters;
}


export const hubSnapshot = (core: HubCore, host: HubHost, now: number): HubSnapshot => {
  const sessions: Record<string, number> = Object.fromEntries(STATES.map((s) => [s, 0]));
  let pausedSessions = 0;
  let maxAttachmentBytes = 0;
  for (const session of core.allSessions()) {
    maxAttachmentBytes = Math.max(maxAttachmentBytes, serializedSize(toAttachment(session)));
    const state = stateOf(session);
    if (state in sessions) sessions[state]!++;
    if (state !== 'closing' && state !== 'suspended' && (isPaused(session) || session.flow.pausedByHub)) pausedSessions++;
  }
  return {
    counters: core.counters,
    sessions,
    pausedSessions,
    actors: host.registry.countLive(now),
    topics: topicCount(new Turn(now, core.config, host)),
    queuedDeliveries: queuedDeliveries(host.kv),
    maxAttachmentBytes,
    shell: shellCounters(host.kv),
  };
};
