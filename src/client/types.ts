import type { Envelope } from '../protocol/envelope';

/**
 * Reply payloads the client resolves with. They are inferred from the hub's
 * own reply schemas in src/protocol/replies.ts, which the hub's reply calls
 * are typed against and its tests parse every frame with.
 */
export type {
  ActorList,
  BroadcastAck,
  ConnectedPayload,
  DeliveryAck,
  Discovered,
  DiscoveredActor,
  ListedActor,
  Metrics,
  Paused,
  Published,
  QueueStats,
  RegisteredPayload,
  Renewed,
  Replies,
  ReplyPayloads,
  Resumed,
  Subscribed,
  TokenRefreshed,
  Unregistered,
  Unsubscribed,
} from '../protocol/replies';
export { REPLY_TYPES } from '../protocol/replies';

/**
 * A message another actor sent through the hub (a forwarded `hub:send`,
 * broadcast or publication): `type` is the application type, `payload` its
 * data, and `metadata` says how it came (`broadcast`, `topic`/`publication`).
 */
export type HubMessage = Envelope;
