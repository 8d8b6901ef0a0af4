import { HUB_ADDRESS, isCanonicalAddress } from '../protocol/envelope';
import { permits, permitsBroadcast } from './auth';
import { deliver, enqueueJob, flushBuffer, isPaused, sendUnknownActor, type Ack } from './delivery';
import { flatFrame, forwardMetadataJson, frameFor, type FlatFrame } from './flat';
import { refusePendingAskOverCap, refuseSubscriptionOverCap } from './limits';
import type { HubConfig } from '../config';
import type { HandlerTable, HubRequest } from './request';
import type { Subscribed } from '../protocol/replies';
import type { Recovery } from './topic-history';
import type { Turn } from './turn';
import { isReachable, type Session } from './session';
import { addSubscription, findSubscription, removeSubscription, subscribersOf, subscriptionById } from './topics';

/** Handlers of contract §6: point-to-point, broadcast, pub/sub and flow control. */

const NOT_AN_ADDRESS =
  'Address actors canonically as "@(path)" (path of 1-256 characters without ")"), as hub:discover returns them.';

interface Recipient {
  address: string;
  connId: string;
}

/**
 * Delivers the first recipients now and queues the rest as a job. When the
 * sender already has queued work, everything queues behind it so that a
 * sender's messages reach each target in the order they were sent.
 */
const fanOut = (req: HubRequest, kind: 'broadcast' | 'publish', flat: FlatFrame, recipients: Recipient[]) => {
  const { turn } = req;
  const sender = req.session;
  const syncCount = sender.flow.queued > 0 ? 0 : Math.min(recipients.length, turn.config.broadcastSyncThreshold);
  let delivered = 0;
  let failed = 0;
  for (const r of recipients.slice(0, syncCount)) {
    const target = req.hub.session(r.connId);
    if (target && isReachable(target)) {
      deliver(turn, target, frameFor(flat, r.address), null);
      delivered++;
    } else failed++;
  }
  const rest = recipients.slice(syncCount);
  enqueueJob(turn, sender, { kind, senderConn: sender.connId, head: flat.head, tail: flat.tail, ack: null }, rest);
  req.hub.checkBackpressure(turn, sender);
  return { delivered, failed, queued: rest.length };
};

/** The flat message a request forwards: the application type and data, from the verified sender. */
const forwarded = (req: HubRequest, p: { type: string; data?: unknown }, extraMetadata: Record<string, unknown> | null = null): FlatFrame =>
  flatFrame({
    id: req.turn.host.ids.messageId(),
    from: req.envelope.from,
    type: p.type,
    payload: p.data ?? null,
    // The original timestamp keeps the sender's ttl meaning the same deadline.
    timestamp: req.envelope.timestamp,
    ttl: req.envelope.ttl,
    metadataJson: forwardMetadataJson(req.envelope, extraMetadata),
  });

export const messagingHandlers: HandlerTable = {
  'hub:send': (req, p) => {
    const { turn, envelope } = req;
    if (p.to !== undefined && envelope.to !== HUB_ADDRESS && envelope.to !== p.to) {
      req.fail({
        code: 'ambiguous_target',
        message: `The envelope names ${envelope.to} but payload.to names ${p.to}.`,
        details: { envelopeTo: envelope.to, payloadTo: p.to },
      });
      return;
    }
    const target = p.to ?? envelope.to;
    if (target === HUB_ADDRESS) {
      req.fail({
        code: 'invalid_message',
        message: 'hub:send needs a target: payload.to or an envelope to other than the hub.',
        details: { issues: [{ path: 'payload.to', message: 'missing target' }] },
      });
      return;
    }
    const ack: Ack | null = req.isAsk
      ? { conn: req.session.connId, to: envelope.from, requestId: envelope.id, messageId: envelope.id, target, askedAt: turn.now }
      : null;
    if (!isCanonicalAddress(target)) {
      if (ack) sendUnknownActor(turn, ack, NOT_AN_ADDRESS);
      turn.log.log('debug', 'send.unknown_target', { sessionId: req.sessionId, traceId: req.traceId });
      return;
    }
    if (!req.allowed('send', permits(req.permissions, 'send', target), target)) return;
    const dest = req.hub.resolve(target, turn.now);
    if (!dest) {
      if (ack) sendUnknownActor(turn, ack);
      turn.log.log('debug', 'send.unknown_target', { sessionId: req.sessionId, traceId: req.traceId });
      return;
    }
    if (refusePendingAskOverCap(req, dest)) return;
    const flat = forwarded(req, p);
    if (req.session.flow.queued > 0) {
      enqueueJob(
        turn,
        req.session,
        { kind: 'send', senderConn: req.session.connId, head: flat.head, tail: flat.tail, ack },
        [{ address: target, connId: dest.connId }],
      );
      req.hub.checkBackpressure(turn, req.session);
      return;
    }
    deliver(turn, dest, frameFor(flat, target), ack);
  },

  'hub:broadcast': (req, p) => {
    const { turn, envelope } = req;
    if (!req.allowed('broadcast', permitsBroadcast(req.permissions), 'to all actors')) return;
    const capability = typeof envelope.metadata.targetCapability === 'string' ? envelope.metadata.targetCapability : null;
    const recipients: Recipient[] = [];
    let matching = 0;
    const limit = turn.config.maxBroadcastRecipients;
    for (const row of turn.host.registry.scanFrom(turn.now, '')) {
      if (capability !== null && !row.capabilities.includes(capability)) continue;
      if (p.excludeSelf === true && row.connId === req.session.connId) continue;
      const target = req.hub.session(row.connId);
      if (!target || !isReachable(target)) continue;
      matching++;
      if (matching <= limit) recipients.push({ address: row.address, connId: row.connId });
    }
    if (matching > limit) {
      req.fail({
        code: 'broadcast_limit_exceeded',
        message: `The broadcast would reach ${matching} actors; the limit is ${limit}.`,
        details: { recipients: matching, limit },
      });
      return;
    }
    const flat = forwarded(req, p, { broadcast: true });
    const result = fanOut(req, 'broadcast', flat, recipients);
    req.reply('hub:broadcast_ack', {
      messageId: envelope.id,
      deliveredCount: result.delivered,
      failedCount: result.failed,
      queuedCount: result.queued,
    });
  },

  'hub:subscribe': (req, p) => {
    if (!req.allowed('subscribe', permits(req.permissions, 'subscribe', p.topic), p.topic)) return;
    const { turn } = req;
    const address = req.actingAddress;
    const existing = findSubscription(turn, p.topic, address);
    if (existing && existing.connId === req.session.connId) {
      // Subscribed all along on this connection: nothing was missed that is not already on its way.
      req.reply('hub:subscribed', subscribedReply(req, p.topic, existing.subscriptionId, p.since && { recovered: true, missed: [] }));
      return;
    }
    if (refuseSubscriptionOverCap(req)) return;
    if (existing) removeSubscription(turn, existing);
    const subscriptionId = turn.host.ids.id();
    addSubscription(turn, { subscriptionId, topic: p.topic, address, connId: req.session.connId });
    const recovery = p.since && req.hub.history.since(p.topic, p.since, turn.now);
    req.reply('hub:subscribed', subscribedReply(req, p.topic, subscriptionId, recovery));
    // What the subscriber missed follows its reply, in order, before any new publication.
    for (const flat of recovery?.missed ?? []) deliver(turn, req.session, frameFor(flat, address), null);
  },

  'hub:unsubscribe': (req, p) => {
    const { turn } = req;
    const address = req.actingAddress;
    let sub = p.subscriptionId !== undefined ? subscriptionById(turn, p.subscriptionId) : null;
    if (sub && sub.connId !== req.session.connId) sub = null;
    // Older clients pass a topic name as subscriptionId.
    if (!sub && p.subscriptionId !== undefined) sub = findSubscription(turn, p.subscriptionId, address);
    if (!sub && p.topic !== undefined) sub = findSubscription(turn, p.topic, address);
    if (sub && sub.connId === req.session.connId) removeSubscription(turn, sub);
    else sub = null;
    if (req.isAsk) {
      req.reply('hub:unsubscribed', {
        // The payload schema requires topic or subscriptionId, so one of them is set.
        topic: sub?.topic ?? p.topic ?? p.subscriptionId!,
        subscriptionId: sub?.subscriptionId ?? null,
      });
    }
  },

  'hub:publish': (req, p) => {
    const { turn, envelope } = req;
    if (!req.allowed('publish', permits(req.permissions, 'publish', p.topic), p.topic)) return;
    const recipients: Recipient[] = [];
    for (const sub of subscribersOf(turn, p.topic)) {
      const target = req.hub.session(sub.connId);
      if (target && isReachable(target)) recipients.push({ address: sub.address, connId: sub.connId });
    }
    // With history on, the publication carries its place in the topic (metadata, beside topic) and is kept.
    const at = req.hub.history.next(p.topic);
    const flat = forwarded(req, p, at ? { topic: p.topic, publication: true, offset: at.offset, epoch: at.epoch } : { topic: p.topic, publication: true });
    if (at) req.hub.history.store(p.topic, at, flat, turn.now);
    fanOut(req, 'publish', flat, recipients);
    req.reply('hub:published', { topic: p.topic, subscriberCount: recipients.length, ...at });
  },

  'hub:pause': (req) => {
    req.hub.drive(req.turn, req.session, { type: 'PAUSE', now: req.turn.now });
    if (req.isAsk) req.reply('hub:paused', { paused: true, bufferLimit: req.turn.config.pauseBufferLimit });
  },

  'hub:resume': (req) => {
    const dropped = req.session.flow.dropped;
    req.hub.drive(req.turn, req.session, { type: 'RESUME', now: req.turn.now });
    const flushed = isPaused(req.session) ? 0 : flushBuffer(req.turn, req.session);
    req.session.flow.dropped = 0;
    // RESUME leaves every state unpaused (machines/session.ts); the wire tests parse this reply as paused: false.
    if (req.isAsk) req.reply('hub:resumed', { paused: isPaused(req.session) as false, flushed, dropped });
  },

  'hub:queue_stats': (req) => {
    const { session, turn } = req;
    req.reply('hub:queue_stats_response', {
      queueDepth: queuedWork(session) + session.flow.buffered,
      processingRate: req.hub.processingRate(turn.now),
      pauseThreshold: turn.config.queuePauseThreshold,
      resumeThreshold: turn.config.queueResumeThreshold,
      paused: isPaused(session) || session.flow.pausedByHub,
      buffered: session.flow.buffered,
      dropped: session.flow.dropped,
    });
  },

  'hub:metrics': (req) => {
    req.reply('hub:metrics_response', req.hub.metrics(req.turn));
  },
};

/** hub:subscribed with the topic's position (history on) and, when asked with `since`, whether it was recovered. */
const subscribedReply = (req: HubRequest, topic: string, subscriptionId: string, recovery: Recovery | undefined): Subscribed => ({
  topic,
  subscriptionId,
  ...req.hub.history.position(topic),
  ...(recovery && { recovered: recovery.recovered }),
});

/**
 * A sender's queued work: recipients of its fan-out still queued, and its
 * own frames the runtime holds unhandled. Both grow when it sends faster
 * than the hub gets through, which is what the advisory hub:pause is for.
 */
export const queuedWork = (sender: Session): number => sender.flow.queued + (sender.held ?? 0);

/** Whether the sender's queued work has crossed a threshold its hub:pause / hub:resume state has not caught up with. */
export const backpressureDue = (config: HubConfig, sender: Session): boolean => {
  const work = queuedWork(sender);
  return sender.flow.pausedByHub ? work <= config.queueResumeThreshold : work >= config.queuePauseThreshold;
};

/** Hub-initiated flow control towards a sender whose queued work crosses the thresholds. */
export const backpressure = (turn: Turn, sender: Session): void => {
  if (!backpressureDue(turn.config, sender)) return;
  const flow = sender.flow;
  const identity = sender.snapshot.context.identity ?? HUB_ADDRESS;
  const queueDepth = queuedWork(sender);
  flow.pausedByHub = !flow.pausedByHub;
  turn.dirty.add(sender);
  if (flow.pausedByHub) turn.reply(sender.connId, identity, null, 'hub:pause', { reason: 'queue_depth', queueDepth });
  else turn.reply(sender.connId, identity, null, 'hub:resume', { reason: 'queue_drained', queueDepth });
};
