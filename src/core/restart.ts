import { sendUnknownActor } from './delivery';
import { SEP } from './kv-store';
import { settlePending } from './limits';
import type { Ack } from './delivery';
import type { HubOps } from './request';
import { isLive, type Session } from './session';
import type { Counters } from './stats';
import { releaseSubscriptions } from './topics';
import type { Turn } from './turn';
import type { KvStore } from './kv-store';
import { NS } from './namespaces';

/**
 * Restart honesty. Hibernation keeps the sockets, so a woken hub finds every
 * session it stored. A runtime restart (or a crash) loses them: the storage
 * still holds registrations, subscriptions and pause buffers of sessions
 * that no longer exist, which would stay discoverable, keep counting in the
 * metrics, and leave asks waiting for an answer that never comes.
 *
 * A census row per session that has not started closing (written at open,
 * deleted when it starts closing) names them. The stored counters say how
 * many such sessions there should be; when the restored sockets are fewer,
 * the first turn after the wake releases what the missing ones held, as if
 * each had closed: their registrations and subscriptions go, their pause
 * buffers are dropped and every ask waiting there gets `hub:unknown_actor`
 * (if its sender is still connected), and they count as closed. Queued
 * fan-out jobs need nothing: their recipients are skipped when the batch
 * finds no live session, which answers a waiting ask the same way.
 */
const CENSUS = NS.census;
const BUF = NS.buffer;
const REPORTED = 'reported';
const META = NS.meta;

export const noteOpened = (kv: KvStore, connId: string): void => kv.put(CENSUS, connId, 1);
export const noteEnding = (kv: KvStore, connId: string): void => kv.delete(CENSUS, connId);

/**
 * The number of restored sessions that have not started closing, if fewer
 * came back than the counters say are open (sockets were lost); else null.
 */
export const lostSockets = (base: Counters, restored: Iterable<Session>): number | null => {
  let open = 0;
  for (const s of restored) if (s.snapshot.value !== 'closing' && s.snapshot.value !== 'closed') open++;
  return base.connectionsOpened - base.connectionsClosed > open ? open : null;
};

/** Releases everything of census sessions without a socket; `known` are the sessions restored from sockets. */
const releaseVanished = (turn: Turn, hub: HubOps, known: ReadonlySet<string>): number => {
  const { kv, registry } = turn.host;
  let vanished = 0;
  for (const [connId] of kv.scan<number>(CENSUS, '')) {
    if (known.has(connId)) continue;
    vanished++;
    if (registry.deleteByConn(connId).length > 0) turn.registryTouched = true;
    releaseSubscriptions(turn, connId);
    for (const [, entry] of kv.scan<{ ack: Ack | null }>(BUF, connId + SEP)) {
      settlePending(turn, entry.ack);
      const sender = entry.ack ? hub.session(entry.ack.conn) : undefined;
      if (entry.ack && sender && isLive(sender)) sendUnknownActor(turn, entry.ack);
    }
    kv.deletePrefix(BUF, connId + SEP);
    kv.delete(CENSUS, connId);
  }
  turn.log.log('warn', 'hub.sockets_lost', { vanished });
  return vanished;
};

/** The flat totals hub:metrics reports; the labelled operator counts (`ops`) are not among them. */
type CounterName = Exclude<keyof Counters, 'ops'>;
type Totals = Record<CounterName, number>;

/**
 * Metrics never go backwards. What a lost session counted since it last
 * wrote its attachment is gone with it, so the totals last reported are kept
 * and, after a loss, the base is raised by whatever the totals fell short of
 * them. Returns the amount to add to each base counter.
 */
const shortfall = (kv: KvStore, totals: Totals): Partial<Totals> => {
  const reported = kv.get<Totals>(META, REPORTED);
  const add: Partial<Totals> = {};
  if (!reported) return add;
  for (const k of Object.keys(totals) as CounterName[]) {
    const gap = (reported[k] ?? 0) - totals[k];
    if (gap > 0) add[k] = gap;
  }
  return add;
};

/** Remembers the totals a `hub:metrics` reply showed (one small write per metrics request). */
export const noteReported = (kv: KvStore, totals: Totals): void => kv.put(META, REPORTED, totals);

/**
 * The first turn after a wake that lost sockets: releases what the missing
 * sessions held, counts every missing session as closed, and lifts the
 * totals back to what was last reported.
 */
export const recoverLostSockets = (
  turn: Turn,
  hub: HubOps,
  base: Counters,
  restored: ReadonlySet<string>,
  restoredOpen: number,
  totals: () => Counters,
): void => {
  releaseVanished(turn, hub, restored);
  // Counted from the counters, not the census: sessions from before the census existed are gone too.
  base.connectionsClosed = Math.max(base.connectionsClosed, base.connectionsOpened - restoredOpen);
  const { ops: _ops, ...flat } = totals();
  const add = shortfall(turn.host.kv, flat);
  for (const [k, v] of Object.entries(add) as [CounterName, number][]) base[k] += v;
};
