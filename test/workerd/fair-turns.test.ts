import { runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG } from '../../src/config';
import { WorkerdClient, eventually, freshHub, stubFor } from './hub-client';

/**
 * The fair queue in the real Durable Object (src/runtime/fair-queue.ts): a
 * run of frames longer than its streak is partly held and handled on the
 * runtime's later turns, by a real zero-delay timer. Whatever the timing,
 * each session's frames are handled once each and in order, another
 * session's ask is answered. (Hibernation with frames held: test/unit/fair-turns.test.ts.)
 */
const FLOOD = DEFAULT_CONFIG.rateLimitBurst; // every tell within the shipped bucket, so none is refused

const setup = async (label: string) => {
  const hub = freshHub(label);
  const sink = await WorkerdClient.connected(hub, '@(fair/sink)');
  await sink.ask('hub:register', { actorAddress: '@(fair/sink/inbox)', capabilities: ['inbox'] });
  const flooder = await WorkerdClient.connected(hub, '@(fair/flooder)');
  const asker = await WorkerdClient.connected(hub, '@(fair/asker)');
  const flood = () => {
    for (let i = 0; i < FLOOD; i++) flooder.request('hub:send', { to: '@(fair/sink/inbox)', type: 'fair.flood', data: i }, { pattern: 'tell' });
  };
  /** The flood as the sink got it, once all of it is there. */
  const delivered = async () => {
    const got = () => sink.events.filter((e) => e.kind === 'frame' && e.frame.type === 'fair.flood').map((e) => (e.kind === 'frame' ? e.frame.payload : null));
    await eventually(async () => got().length >= FLOOD, 5_000, `${FLOOD} flood messages at the sink`);
    return got();
  };
  /** Frames the object's fair queue has held so far. */
  const held = () => runInDurableObject(stubFor(hub), (instance) => (instance as unknown as { runtime: { heldFrames: number } }).runtime.heldFrames);
  return { asker, flood, delivered, held };
};

describe('fair turns in workerd', () => {
  it('a flood longer than the streak reaches its target whole, once each and in order, and another session is answered meanwhile', async () => {
    const { asker, flood, delivered, held } = await setup('fair-flood');
    expect(await held()).toBe(0);
    flood();
    const ack = await asker.ask('hub:send', { to: '@(fair/sink/inbox)', type: 'fair.ask', data: null }, { pattern: 'ask' });
    expect(ack.type).toBe('hub:delivery_ack');
    expect(await delivered()).toEqual(Array.from({ length: FLOOD }, (_, i) => i));
    // The flood's frames came in back to back, so the ones past the streak went through the queue.
    expect(await held()).toBeGreaterThan(0);
  });
});
