import { expect } from 'vitest';
import { WorkerdClient, type Frame } from './hub-client';

/**
 * Helpers shared by the delivery tests in workerd (default limits and the
 * `workerd-limits` project). They build on WorkerdClient and never consume
 * frames behind a test's back: counting reads the full event history.
 */

/** Every frame of `type` this client has received so far, consumed or not, in arrival order. */
export const received = (client: WorkerdClient, type: string): Frame[] =>
  client.events.flatMap((e) => (e.kind === 'frame' && e.frame.type === type ? [e.frame] : []));

/** Application (non-`hub:`) frames this client has received so far. */
export const appFrames = (client: WorkerdClient): Frame[] =>
  client.events.flatMap((e) => (e.kind === 'frame' && !String(e.frame.type).startsWith('hub:') ? [e.frame] : []));

/**
 * A heartbeat round trip on each client, in the given order. The hub handles
 * one socket's frames in order and writes each socket's frames in order, so
 * once a later client's heartbeat is answered, everything the hub produced
 * for frames an earlier client sent before its own heartbeat has arrived.
 * Heartbeats spend no rate-limit tokens, so fences are free.
 */
export const fence = async (...clients: WorkerdClient[]): Promise<void> => {
  for (const c of clients) await c.expectAlive();
};

export const register = async (
  client: WorkerdClient,
  actorAddress: string,
  capabilities: string[] = [],
  extra: { ttlSeconds?: number } = {},
): Promise<Frame> => {
  const reply = await client.ask('hub:register', { actorAddress, capabilities, ...extra });
  expect(reply.type, JSON.stringify(reply.payload)).toBe('hub:registered');
  return reply;
};

/** Registers several addresses on one session with pipelined asks (one token each). */
export const registerAll = async (client: WorkerdClient, addresses: string[], capabilities: string[] = []): Promise<void> => {
  const ids = addresses.map((actorAddress) => client.request('hub:register', { actorAddress, capabilities }));
  const replies = await Promise.all(ids.map((id) => client.reply(id, 10_000)));
  for (const r of replies) expect(r.type, JSON.stringify(r.payload)).toBe('hub:registered');
};

export interface Population {
  clients: WorkerdClient[];
  /** address -> the session that registered it */
  owner: Map<string, WorkerdClient>;
  addresses: string[];
}

/**
 * Registers `count` addresses spread over sessions of `perSession` each.
 * With the default burst of 20 tokens a session can register at most 20
 * addresses at once, so large populations use many sessions.
 */
export const populate = async (hub: string, label: string, count: number, perSession: number): Promise<Population> => {
  const clients: WorkerdClient[] = [];
  const owner = new Map<string, WorkerdClient>();
  const addresses: string[] = [];
  const sessions = Math.ceil(count / perSession);
  for (let s = 0; s < sessions; s++) {
    const client = await WorkerdClient.connected(hub, `@(${label}/session/${s})`);
    const mine: string[] = [];
    for (let i = s * perSession; i < Math.min(count, (s + 1) * perSession); i++) mine.push(`@(${label}/actor/${i})`);
    await registerAll(client, mine);
    for (const a of mine) owner.set(a, client);
    addresses.push(...mine);
    clients.push(client);
  }
  return { clients, owner, addresses };
};

/** A ready delivery_ack for `requestId`, checked for shape. */
export const expectDeliveryAck = (frame: Frame, requestId: string, status: 'delivered' | 'dropped' = 'delivered'): void => {
  expect(frame).toMatchObject({
    type: 'hub:delivery_ack',
    from: '@(cloudflare/signal-hub)',
    pattern: 'tell',
    correlationId: requestId,
    payload: { messageId: requestId, status },
  });
  if (status === 'delivered') expect(typeof frame.payload.deliveredAt).toBe('number');
};

/**
 * Like `eventually`, but slow enough that a probe which sends a request does
 * not drain the session's rate-limit bucket (10 tokens/s) while it waits.
 */
export const poll = async (probe: () => Promise<boolean>, what: string, timeoutMs = 3_000): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await probe()) return;
    if (Date.now() > deadline) throw new Error(`${what} not reached within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 250));
  }
};
