import { runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG } from '../../src/config';
import { WorkerdClient, crash, eventually, freshHub, hibernate, stubFor } from './hub-client';

/**
 * Batched session writes (docs/PROTOCOL.md §11, issue 11) in the real Durable
 * Object: a routed tell leaves the attachments as they were, the runtime's
 * alarm writes the counts SESSION_FLUSH_MS later, a hibernation loses none
 * of them, and a crash loses at most the unwritten counts, never a state or
 * a registration.
 */

interface StoredSession {
  machine: { context: { identity: string | null } };
  stats: { received: number };
}

/** Frames received per identity, as the socket attachments hold them. */
const receivedIn = (state: DurableObjectState): Record<string, number> =>
  Object.fromEntries(
    state.getWebSockets().map((ws) => {
      const stored = ws.deserializeAttachment() as StoredSession;
      return [stored.machine.context.identity ?? '', stored.stats.received];
    }),
  );

const storedReceived = (hub: string): Promise<Record<string, number>> => runInDurableObject(stubFor(hub), (_instance, state) => receivedIn(state));

const connectedPair = async (label: string) => {
  const hub = freshHub(label);
  const a = await WorkerdClient.connected(hub, '@(f/a)');
  const b = await WorkerdClient.connected(hub, '@(f/b)');
  await b.ask('hub:register', { actorAddress: '@(f/b/inbox)', capabilities: ['inbox'] });
  // Whatever the connects and the register left unwritten is written by now.
  await hibernate(hub);
  return { hub, a, b };
};

const tells = async (a: WorkerdClient, b: WorkerdClient, n: number): Promise<void> => {
  for (let i = 0; i < n; i++) a.request('hub:send', { to: '@(f/b/inbox)', type: 'f.note', data: i }, { pattern: 'tell' });
  for (let i = 0; i < n; i++) await b.next((f) => f.type === 'f.note' && f.payload === i);
};

describe('batched session writes in workerd', () => {
  it('tells write no attachment; the alarm writes the counts within SESSION_FLUSH_MS', async () => {
    const { hub, a, b } = await connectedPair('flush-alarm');
    const before = await storedReceived(hub);
    await tells(a, b, 10);
    // Read together, in one event of the object: read apart, the 200 ms flush alarm could run
    // between the two reads (it did once in CI), clearing the alarm after the counts were read.
    const { received, alarm } = await runInDurableObject(stubFor(hub), async (_i, state) => ({ received: receivedIn(state), alarm: await state.storage.getAlarm() }));
    expect(received).toEqual(before);
    expect(alarm).not.toBeNull();
    expect(alarm!).toBeLessThanOrEqual(Date.now() + DEFAULT_CONFIG.sessionFlushMs);
    // The sender's ten frames reach its attachment by the runtime's own alarm.
    await eventually(async () => (await storedReceived(hub))['@(f/a)'] === before['@(f/a)']! + 10, 5_000, 'the counts written by the alarm');
  });

  it('a hibernation keeps every count; a crash loses only the unwritten ones and keeps state and registrations', async () => {
    const { hub, a, b } = await connectedPair('flush-crash');
    await tells(a, b, 5);
    await hibernate(hub);
    const kept = (await b.ask('hub:metrics', null)).payload;
    // The metrics reply made what it showed durable; five more tells are not yet.
    await tells(a, b, 5);
    await crash(hub);
    const after = (await b.ask('hub:metrics', null)).payload;
    expect(after.messagesReceived).toBe((kept.messagesReceived as number) + 1);
    expect(after.messagesDelivered).toBe(kept.messagesDelivered);
    // Nothing durable went: the registration routes, and both sessions are live.
    const found = await a.ask('hub:discover', { pattern: '*', capability: 'inbox' });
    expect((found.payload.actors as { address: string }[]).map((x) => x.address)).toEqual(['@(f/b/inbox)']);
    await tells(a, b, 1);
    await a.expectAlive();
    await b.expectAlive();
  });
});
