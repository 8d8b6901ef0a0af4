import type { Envelope } from '../protocol/envelope';
import type { DiscoveredActor, ListedActor } from '../protocol/messages';

/**
 * Reply payloads the client resolves with, as docs/PROTOCOL.md §7 describes
 * them. The request side is typed by the shared zod schemas (`Requests`);
 * the hub builds these replies by hand, so they are spelled out here.
 */

export type { ConnectedPayload, RegisteredPayload, DiscoveredActor, ListedActor } from '../protocol/messages';

export interface DeliveryAck {
  messageId: string;
  /** Hub time of the hand-over; null when the message was dropped from a paused target's full buffer. */
  deliveredAt: number | null;
  status: 'delivered' | 'dropped';
}

export interface Discovered {
  actors: DiscoveredActor[];
  hasMore: boolean;
}

export interface ActorList {
  actors: ListedActor[];
  total: number;
  offset: number;
  limit: number;
  hasMore: boolean;
}

export interface Unregistered {
  actorAddress: string;
}

export interface Renewed {
  actorAddress: string;
  expiresAt: number;
  renewalToken: string;
}

export interface BroadcastAck {
  messageId: string;
  deliveredCount: number;
  failedCount: number;
  queuedCount: number;
}

export interface Subscribed {
  topic: string;
  subscriptionId: string;
}

export interface Unsubscribed {
  topic: string;
  subscriptionId: string | null;
}

export interface Published {
  topic: string;
  subscriberCount: number;
}

export interface Paused {
  paused: true;
  bufferLimit: number;
}

export interface Resumed {
  paused: false;
  flushed: number;
  dropped: number;
}

export interface TokenRefreshed {
  token: string;
  expiresAt: number;
}

export interface QueueStats {
  queueDepth: number;
  processingRate: number;
  pauseThreshold: number;
  resumeThreshold: number;
  paused: boolean;
  buffered: number;
  dropped: number;
}

export interface Metrics {
  messagesReceived: number;
  messagesSent: number;
  messagesDelivered: number;
  errors: number;
  connectionsOpened: number;
  connectionsClosed: number;
  currentSessions: number;
  registeredActors: number;
  topics: number;
  queuedDeliveries: number;
}

/** Reply type and payload of each request the client sends as an ask. */
export interface Replies {
  'hub:connect': 'hub:connected';
  'hub:heartbeat': 'hub:heartbeat_ack';
  'hub:disconnect': 'hub:disconnect';
  'hub:register': 'hub:registered';
  'hub:unregister': 'hub:unregistered';
  'hub:renew': 'hub:renewed';
  'hub:discover': 'hub:discovered';
  'hub:list_actors': 'hub:actor_list';
  'hub:refresh_token': 'hub:token_refreshed';
  'hub:metrics': 'hub:metrics_response';
  'hub:send': 'hub:delivery_ack';
  'hub:broadcast': 'hub:broadcast_ack';
  'hub:subscribe': 'hub:subscribed';
  'hub:unsubscribe': 'hub:unsubscribed';
  'hub:publish': 'hub:published';
  'hub:pause': 'hub:paused';
  'hub:resume': 'hub:resumed';
  'hub:queue_stats': 'hub:queue_stats_response';
}

export const REPLY_TYPES: Replies = {
  'hub:connect': 'hub:connected',
  'hub:heartbeat': 'hub:heartbeat_ack',
  'hub:disconnect': 'hub:disconnect',
  'hub:register': 'hub:registered',
  'hub:unregister': 'hub:unregistered',
  'hub:renew': 'hub:renewed',
  'hub:discover': 'hub:discovered',
  'hub:list_actors': 'hub:actor_list',
  'hub:refresh_token': 'hub:token_refreshed',
  'hub:metrics': 'hub:metrics_response',
  'hub:send': 'hub:delivery_ack',
  'hub:broadcast': 'hub:broadcast_ack',
  'hub:subscribe': 'hub:subscribed',
  'hub:unsubscribe': 'hub:unsubscribed',
  'hub:publish': 'hub:published',
  'hub:pause': 'hub:paused',
  'hub:resume': 'hub:resumed',
  'hub:queue_stats': 'hub:queue_stats_response',
};

/**
 * A message another actor sent through the hub (a forwarded `hub:send`,
 * broadcast or publication): `type` is the application type, `payload` its
 * data, and `metadata` says how it came (`broadcast`, `topic`/`publication`).
 */
export type HubMessage = Envelope;
