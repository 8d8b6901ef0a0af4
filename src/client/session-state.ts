import type { TopicPosition } from '../protocol/messages';
import type { RegisteredPayload, Renewed, Subscribed } from '../protocol/replies';
import type { Emitter } from './emitter';
import { HubError } from './errors';
import type { Outbox } from './outbox';
import type { HubClientEvents, HubMessage, RegisterOptions, Subscription } from './types';

type Timer = ReturnType<typeof setTimeout>;

interface RegistrationRecord {
  address: string;
  options: RegisterOptions;
  registered: RegisteredPayload;
  renewTimer: Timer | null;
}

interface SubscriptionHandle {
  handler: ((message: HubMessage) => void) | undefined;
}

interface SubscriptionRecord {
  topic: string;
  from: string;
  subscriptionId: string;
  handles: Set<SubscriptionHandle>;
  /** The last publication seen (or the topic's position when subscribed), to recover from after a rebuilt session. */
  position: TopicPosition | null;
}

/** The topic position a reply or a publication carries, when the hub keeps history. */
const positionOf = (v: { offset?: unknown; epoch?: unknown }): TopicPosition | null =>
  typeof v.offset === 'number' && typeof v.epoch === 'string' ? { offset: v.offset, epoch: v.epoch } : null;

const subscriptionKey = (from: string, topic: string): string => `${from}\n${topic}`;

/** Ends of a request that only mean the session is gone, which took the hub's state with it. */
const sessionGone = (error: HubError): boolean => error.code === 'connection_lost' || error.code === 'client_closed';

/**
 * What this client holds on the hub and must hold again after a reconnect,
 * since a new session starts with nothing: its registrations (renewed before
 * they expire), its subscriptions (with their handlers) and its own pause.
 */
export class SessionState {
  private readonly registrations = new Map<string, RegistrationRecord>();
  private readonly subscriptions = new Map<string, SubscriptionRecord>();
  /** The application paused deliveries to itself; restored after a reconnect. */
  private selfPaused = false;

  constructor(
    private readonly outbox: Outbox,
    private readonly events: Emitter<HubClientEvents>,
    private readonly isConnected: () => boolean,
    private readonly autoRenew: boolean,
  ) {}

  // ---- Registrations ----

  async register(address: string, options: RegisterOptions, priority: boolean): Promise<RegisteredPayload> {
    const { capabilities, actorMetadata, ttlSeconds, renewOnHeartbeat, metadata, ...rest } = options;
    const { payload, frame } = await this.outbox.enqueue(
      'hub:register',
      {
        actorAddress: address,
        capabilities: capabilities ?? [],
        ...(actorMetadata !== undefined ? { metadata: actorMetadata } : {}),
        ...(ttlSeconds !== undefined ? { ttlSeconds } : {}),
      },
      { ...rest, metadata: { ...metadata, ...(renewOnHeartbeat ? { renewOnHeartbeat: true } : {}) } },
      'ask',
      priority,
    );
    const reply = payload as RegisteredPayload;
    const previous = this.registrations.get(address);
    if (previous?.renewTimer) clearTimeout(previous.renewTimer);
    const record: RegistrationRecord = { address, options, registered: reply, renewTimer: null };
    this.registrations.set(address, record);
    this.scheduleRenew(record, reply.expiresAt - frame.timestamp);
    return reply;
  }

  /** Stops restoring and renewing `address`. */
  forget(address: string): void {
    const record = this.registrations.get(address);
    if (!record) return;
    if (record.renewTimer) clearTimeout(record.renewTimer);
    record.renewTimer = null;
    this.registrations.delete(address);
  }

  /** Renews `address` now; the latest renewal token is kept for the next one. */
  async renew(address: string, request: (renewalToken: string) => Promise<Renewed>): Promise<Renewed> {
    const record = this.registrations.get(address);
    if (!record) throw HubError.client('not_connected', `${address} is not registered by this client.`);
    const reply = await request(record.registered.renewalToken);
    if (this.registrations.get(address) === record) this.renewed(record, reply);
    return reply;
  }

  private renewed(record: RegistrationRecord, reply: Renewed): void {
    record.registered = { ...record.registered, expiresAt: reply.expiresAt, renewalToken: reply.renewalToken };
  }

  /** Renews at two thirds of the registration's lifetime, measured on the hub's clock. */
  private scheduleRenew(record: RegistrationRecord, lifetimeMs: number): void {
    if (!this.autoRenew || !Number.isFinite(lifetimeMs)) return;
    const delay = Math.min(2_147_483_647, Math.max(250, Math.floor((lifetimeMs * 2) / 3)));
    record.renewTimer = setTimeout(() => {
      record.renewTimer = null;
      if (this.registrations.get(record.address) !== record || !this.isConnected()) return;
      this.outbox
        .enqueue('hub:renew', { renewalToken: record.registered.renewalToken }, { from: record.address }, 'ask')
        .then(
          ({ payload }) => {
            if (this.registrations.get(record.address) !== record) return;
            const reply = payload as Renewed;
            this.renewed(record, reply);
            this.scheduleRenew(record, reply.expiresAt - Date.now());
          },
          (error: HubError) => {
            if (this.registrations.get(record.address) !== record) return;
            if (error.code === 'unauthorized') {
              // The registration is gone on the hub (expired, or the token rotated elsewhere): take it again.
              this.register(record.address, record.options, true).catch((err: HubError) => this.events.emit('error', err));
            } else if (!sessionGone(error)) {
              this.events.emit('error', error);
            }
          },
        );
    }, delay);
  }

  // ---- Subscriptions ----

  /** Records a subscription the hub confirmed and returns the application's handle on it. */
  subscribed(
    from: string,
    topic: string,
    reply: Subscribed,
    handler: ((message: HubMessage) => void) | undefined,
  ): Subscription {
    const key = subscriptionKey(from, topic);
    let record = this.subscriptions.get(key);
    if (!record) {
      record = { topic, from, subscriptionId: reply.subscriptionId, handles: new Set(), position: positionOf(reply) };
      this.subscriptions.set(key, record);
    }
    record.subscriptionId = reply.subscriptionId;
    const handle: SubscriptionHandle = { handler };
    record.handles.add(handle);
    const current = record;
    let active = true;
    return {
      topic,
      from,
      get subscriptionId() {
        return current.subscriptionId;
      },
      unsubscribe: async () => {
        if (!active) return;
        active = false;
        current.handles.delete(handle);
        if (current.handles.size > 0 || this.subscriptions.get(key) !== current) return;
        this.subscriptions.delete(key);
        // A lost connection took the hub's subscription with it; nothing to tell the hub then.
        if (!this.isConnected()) return;
        try {
          await this.outbox.enqueue('hub:unsubscribe', { subscriptionId: current.subscriptionId }, { from }, 'ask');
        } catch (err) {
          // Same as above: if the connection ended meanwhile, the subscription ended with it.
          if (!(err instanceof HubError) || !sessionGone(err)) throw err;
        }
      },
    };
  }

  /** Hands a publication to the handlers of its subscription. */
  dispatch(message: HubMessage): void {
    const topic = message.metadata.topic;
    if (message.metadata.publication !== true || typeof topic !== 'string') return;
    const record = this.subscriptions.get(subscriptionKey(message.to, topic));
    if (!record) return;
    record.position = positionOf(message.metadata) ?? record.position;
    for (const handle of [...record.handles]) {
      try {
        handle.handler?.(message);
      } catch (err) {
        queueMicrotask(() => {
          throw err;
        });
      }
    }
  }

  // ---- Pause ----

  setSelfPaused(paused: boolean): void {
    this.selfPaused = paused;
  }

  // ---- Session changes ----

  /** The session ended: nothing is renewed until a new one restores the registrations. */
  stopRenewals(): void {
    for (const record of this.registrations.values()) {
      if (record.renewTimer) clearTimeout(record.renewTimer);
      record.renewTimer = null;
    }
  }

  /** After a reconnect: the new session holds nothing yet, so register, subscribe and pause again. */
  restore(): void {
    const registrations = [...this.registrations.values()];
    const subscriptions = [...this.subscriptions.values()];
    const work: Promise<unknown>[] = [];
    /** Topics whose publications during the gap may be missing: not recovered from the hub's history. */
    const lostTopics: string[] = [];
    this.outbox.batch(() => {
      for (const record of registrations) work.push(this.register(record.address, record.options, true));
      for (const record of subscriptions) {
        // From where this client left off: the hub replays what it missed (docs/PROTOCOL.md "Topic recovery").
        const since = record.position;
        work.push(
          this.outbox
            .enqueue('hub:subscribe', { topic: record.topic, ...(since && { since }) }, { from: record.from }, 'ask', true)
            .then(({ payload }) => {
              const reply = payload as Subscribed;
              record.subscriptionId = reply.subscriptionId;
              if (reply.recovered !== true) lostTopics.push(record.topic);
              // Recovered publications follow the reply and move the position on as they arrive.
              if (reply.recovered !== true) record.position = positionOf(reply);
            }, (err: unknown) => {
              lostTopics.push(record.topic);
              throw err;
            }),
        );
      }
      if (this.selfPaused) work.push(this.outbox.enqueue('hub:pause', { reason: 'restored' }, {}, 'ask', true));
    });
    void Promise.allSettled(work).then((results) => {
      const failed = results.filter((r) => r.status === 'rejected');
      for (const r of failed) this.events.emit('error', (r as PromiseRejectedResult).reason as HubError);
      this.events.emit('restored', {
        resumed: false,
        registrations: registrations.length,
        subscriptions: subscriptions.length,
        failed: failed.length,
        lostTopics,
      });
    });
  }

  /**
   * After a reconnect that resumed the session: the hub still holds every
   * registration (same expiry and renewal token) and subscription, so
   * nothing is registered or subscribed again. Renewals start again on the
   * hub's remaining lifetime; a pause does not survive the drop on the hub,
   * so the application's own pause is sent again.
   */
  resumed(now: number): void {
    for (const record of this.registrations.values()) this.scheduleRenew(record, record.registered.expiresAt - now);
    if (this.selfPaused) {
      this.outbox.enqueue('hub:pause', { reason: 'restored' }, {}, 'ask', true).catch((err: HubError) => this.events.emit('error', err));
    }
    queueMicrotask(() =>
      this.events.emit('restored', {
        resumed: true,
        registrations: this.registrations.size,
        subscriptions: this.subscriptions.size,
        failed: 0,
        lostTopics: [],
      }),
    );
  }
}
