import { describe, expect, it } from 'vitest';
import { HUB_ADDRESS } from '../../src/protocol/envelope';
import { WorkerdClient, MODES, expectError, freshHub, sleep } from './hub-client';

/**
 * Issue 12, defect 3, auth off, in the real Durable Object: the reserved
 * namespace @(cloudflare/...) is no identity, no registration, no sender.
 */
describe.each(MODES)('reserved addresses, auth off, $mode (issue 12 §3)', ({ between }) => {
  it.each([HUB_ADDRESS, '@(cloudflare/signal-hub/x)', '@(Cloudflare/Other)'])('connect as %s is refused, then closed 4401', async (address) => {
    const hub = freshHub('resconn');
    const client = await WorkerdClient.open(hub, address);
    await between(hub);
    const id = client.request('hub:connect', null, { metadata: { protocolVersion: '0.1.0' } });
    const p = expectError(await client.reply(id), 'hub:unauthorized', 'unauthorized', id);
    expect(p).toMatchObject({ action: 'connect', reason: 'reserved_address' });
    expect((await client.waitClosed()).code).toBe(4401);
  });

  it('the hub address cannot be registered, and a frame claiming it reaches nobody', async () => {
    const hub = freshHub('resreg');
    const victim = await WorkerdClient.connected(hub, '@(res/victim)');
    await victim.ask('hub:register', { actorAddress: '@(res/victim)', capabilities: [] });
    const attacker = await WorkerdClient.connected(hub, '@(res/attacker)');
    await between(hub);
    const reg = await attacker.ask('hub:register', { actorAddress: HUB_ADDRESS, capabilities: [] });
    expect(expectError(reg, 'hub:unauthorized', 'unauthorized', reg.correlationId)).toMatchObject({ action: 'register', reason: 'reserved_address' });
    // The 0.1.0 client form (from = the address being registered) is refused too, by the sender check or by the reservation.
    const legacy = await attacker.ask('hub:register', { actorAddress: HUB_ADDRESS, capabilities: [] }, { from: HUB_ADDRESS });
    expect(['identity_mismatch', 'reserved_address']).toContain(expectError(legacy, 'hub:unauthorized', 'unauthorized', legacy.correlationId).reason);
    await between(hub);
    const sent = await attacker.ask(
      'hub:send',
      { to: '@(res/victim)', type: 'hub:disconnect', data: { reason: 'duplicate_connection' } },
      { from: HUB_ADDRESS },
    );
    expect(expectError(sent, 'hub:unauthorized', 'unauthorized', sent.correlationId).reason).toBe('identity_mismatch');
    const found = await attacker.ask('hub:discover', { pattern: 'cloudflare/*' });
    expect(found.payload.actors).toEqual([]);
    await sleep(50);
    await victim.expectAlive();
    expect(victim.frames).toEqual([]);
  });
});
