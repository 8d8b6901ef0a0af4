import { describe, expect, it } from 'vitest';
import { expectError, freshHub } from '../workerd/hub-client';
import { connectWithToken, signFor } from './tokens';

/**
 * Two decisions of issue 12, pinned (docs/PROTOCOL.md §15): a token that was
 * refreshed away stays valid until its own exp, and tokens cannot be scoped
 * to a hub name in this release (a token asking for it is refused).
 */

const sign = signFor;
const connect = connectWithToken;

describe('token decisions (issue 12)', () => {
  it('a token refreshed away still connects and refreshes until its own exp', async () => {
    const hub = freshHub('refreshedaway');
    const old = await sign('td/alice');
    const first = await connect(hub, old);
    expect(first.reply.type).toBe('hub:connected');
    first.client.identity = '@(td/alice)';
    const refreshed = await first.client.ask('hub:refresh_token', { token: old });
    expect(refreshed.type).toBe('hub:token_refreshed');
    expect(refreshed.payload.token).not.toBe(old);
    // Stateless JWTs: the hub keeps no revocation list, so the old token still works.
    const again = await first.client.ask('hub:refresh_token', { token: old });
    expect(again.type).toBe('hub:token_refreshed');
    const second = await connect(hub, old);
    expect(second.reply.type).toBe('hub:connected');
  });

  it.each([['hub', 'rooms'], ['hubs', ['rooms']]])('a token with a %s claim is refused as invalid_claims', async (claim, value) => {
    const { client, reply } = await connect(freshHub('scoped'), await sign('td/bob', { [claim]: value }));
    expect(expectError(reply, 'hub:unauthorized', 'unauthorized', reply.correlationId).reason).toBe('invalid_claims');
    expect((await client.waitClosed()).code).toBe(4401);
  });
});
