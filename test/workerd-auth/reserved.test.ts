import { describe, expect, it } from 'vitest';
import { HUB_ADDRESS } from '../../src/protocol/envelope';
import { expectError, freshHub, hibernate } from '../workerd/hub-client';
import { connectWithToken, signFor } from './tokens';

/**
 * Issue 12, defect 3, auth on: a token with actorId "cloudflare" could
 * register @(cloudflare/signal-hub) (it is "below" the identity), and an
 * actorId of "cloudflare/signal-hub" became the hub's address as identity.
 */

const open = async (hub: string, actorId: string) => connectWithToken(hub, await signFor(actorId));

describe('reserved addresses, auth on (issue 12 §3)', () => {
  it.each(['cloudflare/signal-hub', 'cloudflare', 'Cloudflare/signal-hub/admin'])('a token with actorId %s is refused at connect, 4401', async (actorId) => {
    const { client, reply } = await open(freshHub('resauth'), actorId);
    const p = expectError(reply, 'hub:unauthorized', 'unauthorized', reply.correlationId);
    expect(p).toMatchObject({ action: 'connect', reason: 'reserved_address' });
    expect((await client.waitClosed()).code).toBe(4401);
  });

  it('a valid session cannot register the hub address, also after hibernation', async () => {
    const hub = freshHub('resauthreg');
    const { client, reply } = await open(hub, 'res/alice');
    expect(reply.type).toBe('hub:connected');
    client.identity = '@(res/alice)';
    await hibernate(hub);
    const reg = await client.ask('hub:register', { actorAddress: HUB_ADDRESS, capabilities: [] });
    expect(expectError(reg, 'hub:unauthorized', 'unauthorized', reg.correlationId)).toMatchObject({ action: 'register', reason: 'reserved_address' });
    const sent = await client.ask('hub:send', { to: '@(res/alice)', type: 'x', data: null }, { from: HUB_ADDRESS });
    expect(expectError(sent, 'hub:unauthorized', 'unauthorized', sent.correlationId).reason).toBe('identity_mismatch');
    await client.expectAlive();
  });
});
