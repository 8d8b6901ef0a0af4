import type { HubConfig } from '../src/config';

/**
 * The fuzzer's model of the hub: deliberately much smaller than the hub.
 *
 * It knows which sockets exist, whether each is connecting, live or closed,
 * and what the hub *acknowledged* to each client: its identity, the
 * registrations it was granted (with token and expiry), its subscriptions and
 * whether it asked to be paused. It does not model rate limiting, queues,
 * pause buffers, timeouts or cleanup; it learns their outcome from the hub's
 * replies. That is enough to pick sensible commands (a token to renew, a topic
 * to unsubscribe) and to check the hub's durable state against what it told
 * its clients: nothing acknowledged may be forgotten, nothing unacknowledged
 * may appear.
 */

export const SLOTS = 4;

/** Identities clients connect as; few, so sessions collide and share. */
export const IDENTITIES = ['@(a)', '@(b)', '@(c)'] as const;
/** Addresses clients register; some are identities, some shared between clients, so duplicates happen. */
export const ADDRESSES = ['@(a)', '@(a/inbox)', '@(b)', '@(b/inbox)', '@(shared)', '@(svc/echo)'] as const;
export const TOPICS = ['news', 'chat.room-1', 'a/b:c'] as const;
export const CAPABILITIES = ['echo', 'store'] as const;

export type Phase = 'connecting' | 'live' | 'closing' | 'closed';

export interface Registration {
  renewalToken: string;
  expiresAt: number;
  version: number;
  ttlMs: number;
  renewOnHeartbeat: boolean;
}

export interface ClientModel {
  slot: number;
  socket: string;
  phase: Phase;
  identity: string | null;
  registrations: Map<string, Registration>;
  /** Renewal tokens replaced by a renewal or a re-registration: they must stop working. */
  retiredTokens: string[];
  /** `topic \u0001 address` -> subscriptionId. */
  subscriptions: Map<string, string>;
  sessionToken: string | null;
  /** The client asked to be paused and the hub did it. */
  paused: boolean;
  /** Every address this session held at some time: a delivery to it must name one of them. */
  everHeld: Set<string>;
}

/** What a fuzz run may use; the differential runs a restricted variant. */
export interface FuzzProfile {
  /** Clock jumps and alarm firings (not in workerd, whose time is real). */
  time: boolean;
  /** Hub-issued tokens and ids in later frames (workerd issues different ones). */
  reuseIssuedValues: boolean;
  /** Server shutdown (no runtime event triggers it in workerd). */
  shutdown: boolean;
  /** Unconfirmed closes and client close codes the browser API refuses. */
  rawCloses: boolean;
  /** The abuse flood (long). */
  flood: boolean;
  /** Frames beyond MAX_MESSAGE_SIZE (the runtime's own frame limit may act first in workerd). */
  hugeFrames: boolean;
}

export const FULL_PROFILE: FuzzProfile = { time: true, reuseIssuedValues: true, shutdown: true, rawCloses: true, flood: true, hugeFrames: true };
export const DIFFERENTIAL_PROFILE: FuzzProfile = {
  time: false,
  reuseIssuedValues: false,
  shutdown: false,
  rawCloses: false,
  flood: false,
  hugeFrames: false,
};

export interface HubModel {
  config: HubConfig;
  profile: FuzzProfile;
  confirmCloses: boolean;
  slots: (ClientModel | null)[];
  /** Sockets opened so far; names are s1, s2, ... */
  opened: number;
  /** Counter behind message ids m1, m2, ... */
  nextMessage: number;
  now: number;
  /** Last version the hub reported for each address. */
  versions: Map<string, number>;
  /** The server shut down: every session is gone and nothing new is accepted by the model. */
  shutdown: boolean;
}

export const newModel = (config: HubConfig, profile: FuzzProfile, confirmCloses: boolean, now: number): HubModel => ({
  config,
  profile,
  confirmCloses,
  slots: Array.from({ length: SLOTS }, () => null),
  opened: 0,
  nextMessage: 0,
  now,
  versions: new Map(),
  shutdown: false,
});

export const newClient = (slot: number, socket: string): ClientModel => ({
  slot,
  socket,
  phase: 'connecting',
  identity: null,
  registrations: new Map(),
  retiredTokens: [],
  subscriptions: new Map(),
  sessionToken: null,
  paused: false,
  everHeld: new Set(),
});

export const subKey = (topic: string, address: string): string => `${topic}\u0001${address}`;
export const splitSubKey = (key: string): { topic: string; address: string } => {
  const at = key.indexOf('\u0001');
  return { topic: key.slice(0, at), address: key.slice(at + 1) };
};

/** The client in `slot` if its socket is open (connecting or live). */
export const openClient = (m: Readonly<HubModel>, slot: number): ClientModel | null => {
  const c = m.slots[slot];
  return c && (c.phase === 'connecting' || c.phase === 'live') ? c : null;
};

export const liveClient = (m: Readonly<HubModel>, slot: number): ClientModel | null => {
  const c = m.slots[slot];
  return c && c.phase === 'live' ? c : null;
};

export const clientBySocket = (m: Readonly<HubModel>, socket: string): ClientModel | null =>
  m.slots.find((c) => c?.socket === socket) ?? null;

/** Whether a registration the hub granted is still in force by the model's reckoning. */
export const inForce = (r: Registration, now: number): boolean => r.expiresAt > now;

/** Whether client `c` holds `address` now: its identity, or a registration of its own in force. */
export const holds = (m: Readonly<HubModel>, c: ClientModel, address: string): boolean => {
  if (address === c.identity) return true;
  const reg = c.registrations.get(address);
  return reg !== undefined && inForce(reg, m.now);
};

/** Which live client holds `address` (a registration in force), if any. */
export const holderOf = (m: Readonly<HubModel>, address: string): ClientModel | null => {
  for (const c of m.slots) {
    if (c?.phase !== 'live') continue;
    const r = c.registrations.get(address);
    if (r && inForce(r, m.now)) return c;
  }
  return null;
};

/** Everything a closed session held is released. */
export const releaseClient = (c: ClientModel, phase: 'closing' | 'closed'): void => {
  c.phase = phase;
  for (const r of c.registrations.values()) c.retiredTokens.push(r.renewalToken);
  c.registrations.clear();
  c.subscriptions.clear();
  c.paused = false;
};

export const nextMessageId = (m: HubModel): string => `m${++m.nextMessage}`;

// ------------------------------------------------------------------ what the hub acknowledged
// Each command teaches the model from its own request's reply (fast-check's
// model-based style: the model is updated in the command); these are the
// updates they share.

/** hub:connected: the session is live under the identity the hub chose. */
export const learnConnected = (c: ClientModel, identity: string, sessionToken: string | null): void => {
  c.phase = 'live';
  c.identity = identity;
  c.sessionToken = sessionToken;
  c.everHeld.add(identity);
};

/** hub:registered: the address is this client's now; any other holder lost it (last one wins). */
export const learnRegistered = (
  m: HubModel,
  c: ClientModel,
  grant: { actorAddress: string; renewalToken: string; expiresAt: number; version: number },
  renewOnHeartbeat: boolean,
): void => {
  const address = grant.actorAddress;
  const old = c.registrations.get(address);
  if (old) c.retiredTokens.push(old.renewalToken);
  for (const other of m.slots) {
    if (other && other !== c && other.registrations.has(address)) dropRegistration(other, address);
  }
  c.registrations.set(address, {
    renewalToken: grant.renewalToken,
    expiresAt: grant.expiresAt,
    version: grant.version,
    ttlMs: grant.expiresAt - m.now,
    renewOnHeartbeat,
  });
  c.everHeld.add(address);
  m.versions.set(address, grant.version);
};

export const dropRegistration = (c: ClientModel, address: string): void => {
  const reg = c.registrations.get(address);
  if (reg) {
    c.retiredTokens.push(reg.renewalToken);
    c.registrations.delete(address);
  }
};

/** hub:renewed: a new token and expiry; the old token is retired. */
export const learnRenewed = (c: ClientModel, grant: { actorAddress: string; renewalToken: string; expiresAt: number }): void => {
  const reg = c.registrations.get(grant.actorAddress);
  if (!reg) return;
  c.retiredTokens.push(reg.renewalToken);
  reg.renewalToken = grant.renewalToken;
  reg.expiresAt = grant.expiresAt;
};

/** A heartbeat the hub processed: registrations made with renewOnHeartbeat start their ttl again. */
export const learnHeartbeat = (m: HubModel, c: ClientModel): void => {
  for (const reg of c.registrations.values()) {
    if (reg.renewOnHeartbeat && inForce(reg, m.now)) reg.expiresAt = m.now + reg.ttlMs;
  }
};

/** hub:subscribed: the subscription is kept under the acting address; one subscriber per (topic, address). */
export const learnSubscribed = (m: HubModel, c: ClientModel, topic: string, actingAs: string, subscriptionId: string): void => {
  const key = subKey(topic, actingAs);
  for (const other of m.slots) if (other && other !== c) other.subscriptions.delete(key);
  c.subscriptions.set(key, subscriptionId);
};

/**
 * An unsubscribe the hub processed. The hub's resolution order: its own id,
 * then an id naming a topic (old clients), then the topic.
 */
export const learnUnsubscribed = (c: ClientModel, by: { subscriptionId?: string; topic?: string }, actingAs: string): void => {
  const { subscriptionId, topic } = by;
  let key: string | undefined;
  if (subscriptionId !== undefined) key = [...c.subscriptions].find(([, id]) => id === subscriptionId)?.[0];
  if (!key && subscriptionId !== undefined && c.subscriptions.has(subKey(subscriptionId, actingAs))) key = subKey(subscriptionId, actingAs);
  if (!key && topic !== undefined && c.subscriptions.has(subKey(topic, actingAs))) key = subKey(topic, actingAs);
  if (key) c.subscriptions.delete(key);
};

/** hub:unsubscribed names the subscription it ended. */
export const forgetSubscription = (c: ClientModel, subscriptionId: string): void => {
  for (const [key, id] of c.subscriptions) if (id === subscriptionId) c.subscriptions.delete(key);
};
