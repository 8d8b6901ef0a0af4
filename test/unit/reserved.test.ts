import { describe, expect, it } from 'vitest';
import { flatFrame } from '../../src/core/flat';
import { isReserved } from '../../src/core/reserved';
import { HUB_ADDRESS } from '../../src/protocol/envelope';
import { PROTOCOL_VERSION, Scenario, bothWays, expectError, type Msg } from './core-harness';

/**
 * Issue 12, defect 3: the hub's own address could be taken, and a frame
 * forwarded from it looked like a hub notice. The reserved namespace
 * (@(cloudflare) and @(cloudflare/...), any case) is no session identity,
 * no registration and no sender.
 */

const RESERVED = ['@(cloudflare/signal-hub)', '@(Cloudflare/Signal-Hub)', '@(cloudflare)', '@(cloudflare/signal-hub/x)', '@(CLOUDFLARE/other)'];
const NOT_RESERVED = ['@(cloudflarex)', '@(not-cloudflare/signal-hub)', '@(x/cloudflare/signal-hub)'];

const expectReserved = (reply: Msg, action: string): void => {
  expectError(reply, 'unauthorized');
  expect(reply.payload).toMatchObject({ action, reason: 'reserved_address' });
};

describe('reserved addresses (issue 12 §3)', () => {
  it('the namespace rule', () => {
    for (const a of RESERVED) expect(isReserved(a), a).toBe(true);
    for (const a of NOT_RESERVED) expect(isReserved(a), a).toBe(false);
    expect(isReserved(HUB_ADDRESS)).toBe(true);
  });

  for (const address of RESERVED) {
    bothWays(`auth off: connect as ${address} is refused with reserved_address and closed 4401`, (sc) => {
      const peer = sc.open(address);
      const reply = peer.ask('hub:connect', null, { metadata: { protocolVersion: PROTOCOL_VERSION } });
      expectReserved(reply, 'connect');
      expect(peer.socket.closed?.code).toBe(4401);
    });
  }

  bothWays('addresses outside the namespace are ordinary', (sc) => {
    for (const address of NOT_RESERVED) {
      const peer = sc.connect(address);
      expect(peer.ask('hub:register', { actorAddress: address, capabilities: [] }).type).toBe('hub:registered');
    }
  });

  bothWays('no reserved address can be registered, and nothing is stored', (sc) => {
    const a = sc.connect('@(res/a)');
    for (const address of RESERVED) expectReserved(a.ask('hub:register', { actorAddress: address, capabilities: [] }), 'register');
    expect(a.ask('hub:discover', { pattern: '*' }).payload.actors).toEqual([]);
    a.heartbeatOk();
  });

  bothWays('a send claiming to come from the hub is refused and reaches nobody', (sc) => {
    const victim = sc.connect('@(res/victim)');
    victim.ask('hub:register', { actorAddress: '@(res/victim)', capabilities: [] });
    const a = sc.connect('@(res/a)');
    victim.inbox();
    const id = a.request('hub:send', { to: '@(res/victim)', type: 'hub:disconnect', data: { reason: 'duplicate_connection' } }, { from: HUB_ADDRESS, pattern: 'ask' });
    const reply = a.replyTo(id);
    expectError(reply, 'unauthorized');
    expect(reply.payload.reason).toBe('identity_mismatch');
    expect(victim.inbox()).toEqual([]);
  });

  it('a registration of the hub address left by an older release cannot send, broadcast or publish', () => {
    const sc = new Scenario('awake');
    const victim = sc.connect('@(res/victim)');
    victim.ask('hub:register', { actorAddress: '@(res/victim)', capabilities: [] });
    victim.ask('hub:subscribe', { topic: 't' });
    const a = sc.connect('@(res/a)');
    // The state a pre-fix hub could have written: a live row of the hub's address held by a's session.
    const own = a.ask('hub:register', { actorAddress: '@(res/a)', capabilities: [] });
    expect(own.type).toBe('hub:registered');
    const row = sc.fake.registry.get('@(res/a)')!;
    sc.fake.registry.put({ ...row, address: HUB_ADDRESS, renewalToken: 'legacy' });
    // Written behind the core's in-memory registry: a wake rebuilds it from storage, as after a deploy.
    sc.fake.hibernate();
    victim.inbox();
    for (const [type, payload, action] of [
      ['hub:send', { to: '@(res/victim)', type: 'x', data: null }, 'hub:send'],
      ['hub:broadcast', { type: 'x', data: null }, 'hub:broadcast'],
      ['hub:publish', { topic: 't', type: 'x', data: null }, 'hub:publish'],
    ] as const) {
      expectReserved(a.ask(type, payload as never, { from: HUB_ADDRESS }), action);
    }
    expect(victim.inbox()).toEqual([]);
    a.heartbeatOk();
  });

  it('the flat-frame builder refuses a reserved sender outright', () => {
    expect(() => flatFrame({ id: 'x', from: HUB_ADDRESS, type: 't', payload: null, timestamp: 0, ttl: null, metadataJson: '{}' })).toThrow(/reserved/);
  });
});
