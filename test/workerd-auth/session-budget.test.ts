import { describe, expect, it } from 'vitest';
import { MAX_PERMISSION_CHARS, MAX_SESSION_CAPABILITIES, MAX_SESSION_CAPABILITY_CHARS } from '../../src/protocol/limits';
import { WorkerdClient, expectError, freshHub, hibernate, persistedStates } from '../workerd/hub-client';
import { signFor } from './tokens';

/**
 * Issue 12, defect 2, with auth on: the JWT sat in the attachment, so a
 * valid 27 KiB token was acknowledged and the session lost at the next
 * hibernation, and a token over 8192 characters could not be refreshed.
 * The token is no longer stored; the claims that are (capabilities,
 * permissions) are bounded so the session always fits.
 */

const sign = signFor;

const connectWith = async (hub: string, token: string) => {
  const client = await WorkerdClient.open(hub, '@(anyone)');
  const id = client.request('hub:connect', null, { metadata: { protocolVersion: '0.1.0', authToken: `Bearer ${token}` } });
  return { client, reply: await client.reply(id) };
};

describe('large tokens with auth on (issue 12 §2)', () => {
  it.each([27, 267])('a valid %i KiB token connects, survives hibernation and can be refreshed', async (kib) => {
    const hub = freshHub(`bigtoken${kib}`);
    const token = await sign('big/holder', { padding: 'p'.repeat(kib * 1024) });
    expect(token.length).toBeGreaterThan(kib * 1024);
    const { client, reply } = await connectWith(hub, token);
    expect(reply.type).toBe('hub:connected');
    expect(reply.payload.token).toBe(token);
    client.identity = '@(big/holder)';
    await hibernate(hub);
    await client.expectAlive();
    expect(await persistedStates(hub)).toEqual(['registered']);
    const refreshed = await client.ask('hub:refresh_token', { token });
    expect(refreshed.type).toBe('hub:token_refreshed');
    expect(refreshed.payload.token.length).toBeGreaterThan(kib * 1024);
    await hibernate(hub);
    await client.expectAlive();
    const again = await client.ask('hub:refresh_token', { token: refreshed.payload.token });
    expect(again.type).toBe('hub:token_refreshed');
  });

  it('the largest admissible claims connect and survive hibernation', async () => {
    const hub = freshHub('bigclaims');
    const capabilities = Array.from({ length: MAX_SESSION_CAPABILITIES }, (_, i) =>
      `${i}`.padEnd(MAX_SESSION_CAPABILITY_CHARS / MAX_SESSION_CAPABILITIES, '☃'),
    );
    const glob = (i: number) => `${i}`.padEnd(Math.floor(MAX_PERMISSION_CHARS / 192), '☃');
    const list = (base: number) => Array.from({ length: 64 }, (_, i) => glob(base + i));
    const actorId = `big/${'☃'.repeat(246)}`;
    const token = await sign(actorId, { capabilities, permissions: { send: list(0), publish: list(64), subscribe: list(128) } });
    const { client, reply } = await connectWith(hub, token);
    expect(reply.type).toBe('hub:connected');
    client.identity = `@(${actorId})`;
    await hibernate(hub);
    await client.expectAlive();
    expect(await persistedStates(hub)).toEqual(['registered']);
  });

  it.each([
    ['one capability too many', { capabilities: Array.from({ length: MAX_SESSION_CAPABILITIES + 1 }, (_, i) => `c${i}`) }],
    ['permissions one character over', { permissions: { send: ['x'.repeat(512), 'x'.repeat(512), 'x'.repeat(512), 'x'.repeat(512), 'y'] } }],
  ])('a token with %s is refused as invalid_claims before hub:connected', async (_label, extra) => {
    const hub = freshHub('claimsover');
    const { client, reply } = await connectWith(hub, await sign('over/claims', extra));
    const p = expectError(reply, 'hub:unauthorized', 'unauthorized', reply.correlationId);
    expect(p.reason).toBe('invalid_claims');
    expect((await client.waitClosed()).code).toBe(4401);
  });
});
