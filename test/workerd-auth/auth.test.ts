import { SignJWT, base64url, decodeProtectedHeader, jwtVerify } from 'jose';
import { describe, expect, it } from 'vitest';
import { HUB_ADDRESS, PROTOCOL_VERSION } from '../../src/protocol/envelope';
import { WorkerdClient, expectError, freshHub, hibernate, sleep, type Frame } from '../workerd/hub-client';

/**
 * JWT auth against the real worker and Durable Object (the `workerd-auth`
 * project runs with AUTH_ENABLED=true and the secret below). Every token is
 * built here with `jose` directly, never with the hub's own minting code, so
 * a mistake in src/auth cannot hide itself by agreeing with the test.
 */

const SECRET = 'test-secret-for-workerd-auth';
const ISSUER = 'signal-hub';
const key = (secret: string): Uint8Array => new TextEncoder().encode(secret);
const nowSeconds = (): number => Math.floor(Date.now() / 1000);

interface TokenSpec {
  actorId?: string;
  sub?: string;
  capabilities?: string[];
  permissions?: Record<string, unknown>;
  /** null leaves the claim out. */
  exp?: number | null;
  nbf?: number;
  /** null leaves the claim out. */
  iss?: string | null;
  secret?: string;
  alg?: 'HS256' | 'HS384' | 'HS512';
}

const sign = async (spec: TokenSpec): Promise<string> => {
  const claims: Record<string, unknown> = { capabilities: spec.capabilities ?? [] };
  if (spec.actorId !== undefined) claims.actorId = spec.actorId;
  if (spec.permissions !== undefined) claims.permissions = spec.permissions;
  const jwt = new SignJWT(claims)
    .setProtectedHeader({ alg: spec.alg ?? 'HS256', typ: 'JWT' })
    .setSubject(spec.sub ?? `user:${spec.actorId ?? 'nobody'}`)
    .setIssuedAt(nowSeconds());
  if (spec.iss !== null) jwt.setIssuer(spec.iss ?? ISSUER);
  if (spec.exp !== null) jwt.setExpirationTime(spec.exp ?? nowSeconds() + 600);
  if (spec.nbf !== undefined) jwt.setNotBefore(spec.nbf);
  return jwt.sign(key(spec.secret ?? SECRET));
};

const encodeJson = (value: unknown): string => base64url.encode(JSON.stringify(value));

/** An unsecured JWT: the attack where the signature is simply dropped. */
const algNoneToken = (actorId: string): string =>
  `${encodeJson({ alg: 'none', typ: 'JWT' })}.${encodeJson({
    iss: ISSUER,
    sub: `user:${actorId}`,
    actorId,
    capabilities: ['admin'],
    exp: nowSeconds() + 600,
  })}.`;

/** A correctly signed token whose payload was swapped for another actor's, signature kept. */
const tamperedToken = async (): Promise<string> => {
  const genuine = await sign({ actorId: 'tamper/me' });
  const [header, , signature] = genuine.split('.');
  const forged = encodeJson({ iss: ISSUER, sub: 'user:tamper/admin', actorId: 'tamper/admin', capabilities: [], exp: nowSeconds() + 600 });
  return `${header}.${forged}.${signature}`;
};

/** Opens a socket and sends hub:connect with the given token (if any); returns the reply. */
const connectWith = async (
  hub: string,
  authToken: string | undefined,
  opts: { from?: string; capabilities?: string[] } = {},
): Promise<{ client: WorkerdClient; reply: Frame; id: string }> => {
  const client = await WorkerdClient.open(hub, opts.from ?? '@(claimed/by-client)');
  const metadata: Record<string, unknown> = { protocolVersion: PROTOCOL_VERSION };
  if (authToken !== undefined) metadata.authToken = authToken;
  if (opts.capabilities !== undefined) metadata.capabilities = opts.capabilities;
  const id = client.request('hub:connect', null, { metadata });
  return { client, reply: await client.reply(id), id };
};

/** Connects with a fresh token for `actorId`; the client then speaks as the verified identity. */
const authed = async (
  hub: string,
  actorId: string,
  spec: TokenSpec = {},
  opts: { from?: string; capabilities?: string[] } = {},
): Promise<{ client: WorkerdClient; token: string; reply: Frame }> => {
  const token = await sign({ actorId, ...spec });
  const { client, reply } = await connectWith(hub, token, opts);
  expect(reply.type, JSON.stringify(reply.payload)).toBe('hub:connected');
  client.identity = reply.metadata.actorIdentity as string;
  return { client, token, reply };
};

/** Wire history as short labels, to assert order (reply before close). */
const timeline = (client: WorkerdClient): string[] =>
  client.events.map((e) => (e.kind === 'frame' ? String(e.frame.type) : `close:${e.code}`));

const appFrames = (client: WorkerdClient): Frame[] =>
  client.events.flatMap((e) => (e.kind === 'frame' && !String(e.frame.type).startsWith('hub:') ? [e.frame] : []));

const expectRefusedConnect = async (authToken: string | undefined, reason: string): Promise<void> => {
  const hub = freshHub('refuse');
  const { client, reply, id } = await connectWith(hub, authToken);
  const payload = expectError(reply, 'hub:unauthorized', 'unauthorized', id);
  expect(payload.action).toBe('connect');
  expect(payload.reason).toBe(reason);
  expect((await client.waitClosed()).code).toBe(4401);
  expect(timeline(client)).toEqual(['hub:unauthorized', 'close:4401']);
  // The refusal names the problem without echoing the credential back.
  if (authToken !== undefined && authToken.length > 16) expect(JSON.stringify(reply)).not.toContain(authToken);
  expect(JSON.stringify(reply)).not.toContain(SECRET);
};

describe('hub:connect refusals (§4): hub:unauthorized {action: connect, reason} then close 4401', () => {
  it('refuses a connect without metadata.authToken (missing_token)', async () => {
    await expectRefusedConnect(undefined, 'missing_token');
  });

  it('refuses an empty or prefix-only authToken (missing_token)', async () => {
    await expectRefusedConnect('', 'missing_token');
    await expectRefusedConnect('bearer ', 'missing_token');
  });

  it('refuses a hand-built alg:none token with an empty signature (unsupported_algorithm)', async () => {
    await expectRefusedConnect(algNoneToken('none/attacker'), 'unsupported_algorithm');
    await expectRefusedConnect(`bearer ${algNoneToken('none/attacker')}`, 'unsupported_algorithm');
  });

  it('refuses a token signed with another secret (invalid_signature)', async () => {
    await expectRefusedConnect(await sign({ actorId: 'sig/a', secret: 'some-other-secret' }), 'invalid_signature');
  });

  it('refuses a signed token whose payload was swapped for another actor (invalid_signature)', async () => {
    await expectRefusedConnect(await tamperedToken(), 'invalid_signature');
  });

  it('refuses an HMAC token of another strength even with the right secret (unsupported_algorithm)', async () => {
    await expectRefusedConnect(await sign({ actorId: 'alg/a', alg: 'HS512' }), 'unsupported_algorithm');
  });

  it('refuses a token from another issuer (wrong_issuer)', async () => {
    await expectRefusedConnect(await sign({ actorId: 'iss/a', iss: 'someone-else' }), 'wrong_issuer');
  });

  it('accepts a token without an issuer, as 0.1.0 clients mint them (an issuer, if given, must be ours)', async () => {
    const { client, reply } = await connectWith(freshHub('noiss'), await sign({ actorId: 'iss/b', iss: null }));
    expect(reply.type, JSON.stringify(reply.payload)).toBe('hub:connected');
    expect(reply.metadata.actorIdentity).toBe('@(iss/b)');
    client.identity = '@(iss/b)';
    await client.expectAlive();
  });

  it('refuses an expired token beyond the clock skew (token_expired)', async () => {
    await expectRefusedConnect(await sign({ actorId: 'exp/a', exp: nowSeconds() - 120 }), 'token_expired');
  });

  it('refuses a token that is not valid yet beyond the clock skew (token_not_yet_valid)', async () => {
    await expectRefusedConnect(
      await sign({ actorId: 'nbf/a', nbf: nowSeconds() + 120, exp: nowSeconds() + 600 }),
      'token_not_yet_valid',
    );
  });

  it('refuses malformed token strings (malformed_token)', async () => {
    await expectRefusedConnect('not-a-jwt', 'malformed_token');
    await expectRefusedConnect('bearer a.b.c', 'malformed_token');
  });

  it('refuses a token without exp, which is required (invalid_claims)', async () => {
    await expectRefusedConnect(await sign({ actorId: 'noexp/a', exp: null }), 'invalid_claims');
  });

  it('takes the identity from sub when there is no actorId claim; a sub that is no address path is refused', async () => {
    const hub = freshHub('nosub');
    // The 0.1.0 clients' own tokens: sub is a whole address, no iss, no actorId.
    for (const [sub, identity] of [['@(local/test-seag)', '@(local/test-seag)'], ['user:anonymous', '@(user:anonymous)']] as const) {
      const { client, reply } = await connectWith(hub, await sign({ sub, iss: null }));
      expect(reply.type, JSON.stringify(reply.payload)).toBe('hub:connected');
      expect(reply.metadata.actorIdentity).toBe(identity);
      client.identity = identity;
      const reg = await client.ask('hub:register', { actorAddress: identity, capabilities: [] }, { from: identity });
      expect(reg.type, JSON.stringify(reg.payload)).toBe('hub:registered');
    }
    await expectRefusedConnect(await sign({ sub: 'bad)sub' }), 'invalid_claims');
  });

  it('accepts the token bare and with a bearer prefix in any case', async () => {
    const hub = freshHub('bearer');
    for (const [i, prefix] of ['', 'bearer ', 'Bearer ', 'BEARER  '].entries()) {
      const token = await sign({ actorId: `bearer/${i}` });
      const { client, reply } = await connectWith(hub, `${prefix}${token}`);
      expect(reply.type, `${JSON.stringify(prefix)}: ${JSON.stringify(reply.payload)}`).toBe('hub:connected');
      expect(reply.metadata.actorIdentity).toBe(`@(bearer/${i})`);
      client.identity = `@(bearer/${i})`;
      await client.expectAlive();
    }
  });
});

describe('identity and capabilities come from the token only (§4)', () => {
  it('uses @(actorId) as identity and ignores the from and capabilities the client claims', async () => {
    const hub = freshHub('ident');
    const exp = nowSeconds() + 900;
    const { client, token, reply } = await authed(
      hub,
      'ident/alice',
      { capabilities: ['chat'], exp },
      { from: '@(ident/mallory)', capabilities: ['admin'] },
    );
    expect(reply.metadata.actorIdentity).toBe('@(ident/alice)');
    expect(reply.payload.tokenExpiresAt).toBe(exp * 1000);
    expect(reply.payload.token).toBe(token);

    const reg = await client.ask('hub:register', { actorAddress: '@(ident/alice)', capabilities: ['admin', 'root'] });
    expect(reg.type, JSON.stringify(reg.payload)).toBe('hub:registered');
    const list = await client.ask('hub:list_actors', {});
    expect(list.payload.actors).toEqual([expect.objectContaining({ actorAddress: '@(ident/alice)', capabilities: ['chat'] })]);

    // The address the client claimed at connect is not its own to send as.
    const id = client.request('hub:send', { to: '@(ident/alice)', type: 'app.x', data: 1 }, { from: '@(ident/mallory)' });
    const refused = expectError(await client.reply(id), 'hub:unauthorized', 'unauthorized', id);
    expect(refused.reason).toBe('identity_mismatch');
    await client.expectAlive();
  });

  it('evicts the older session when the same identity connects again (duplicate_connection, 4409)', async () => {
    const hub = freshHub('dup');
    const first = await authed(hub, 'dup/x');
    await first.client.ask('hub:register', { actorAddress: '@(dup/x/inbox)', capabilities: [] });
    const second = await authed(hub, 'dup/x');

    const notice = await first.client.next((f) => f.type === 'hub:disconnect');
    expect(notice.payload).toMatchObject({ reason: 'duplicate_connection' });
    expect((await first.client.waitClosed()).code).toBe(4409);
    expect(timeline(first.client).slice(-2)).toEqual(['hub:disconnect', 'close:4409']);

    // The newer session is live and the older one's registrations are gone.
    const list = await second.client.ask('hub:list_actors', {});
    expect(list.payload.total).toBe(0);
    await second.client.expectAlive();
  });
});

describe('hub:refresh_token in JWT mode (§10)', () => {
  it('returns a new 1 h token with the same claims', async () => {
    const hub = freshHub('refresh');
    const permissions = { publish: ['news/*'], broadcast: false };
    const { client, token } = await authed(hub, 'refresh/a', {
      sub: 'user:42',
      capabilities: ['chat', 'gpu'],
      permissions,
      exp: nowSeconds() + 300,
    });
    const before = Date.now();
    const reply = await client.ask('hub:refresh_token', { token });
    const after = Date.now();
    expect(reply.type, JSON.stringify(reply.payload)).toBe('hub:token_refreshed');
    expect(reply.correlationId).not.toBeNull();
    const fresh = reply.payload.token as string;
    expect(fresh).not.toBe(token);
    expect(reply.payload.expiresAt).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000 + 3_600_000);
    expect(reply.payload.expiresAt).toBeLessThanOrEqual(after + 3_600_000);

    const { payload, protectedHeader } = await jwtVerify(fresh, key(SECRET), { issuer: ISSUER, algorithms: ['HS256'] });
    expect(protectedHeader.alg).toBe('HS256');
    expect(payload).toMatchObject({ sub: 'user:42', actorId: 'refresh/a', capabilities: ['chat', 'gpu'], permissions });
    expect(payload.exp! * 1000).toBe(reply.payload.expiresAt);

    // The refreshed token is itself refreshable, with a bearer prefix too.
    const again = await client.ask('hub:refresh_token', { token: `bearer ${fresh}` });
    expect(again.type, JSON.stringify(again.payload)).toBe('hub:token_refreshed');
  });

  it('answers invalid_token for garbage, an expired token and a foreign signature, and keeps the session', async () => {
    const hub = freshHub('refresh-bad');
    const { client } = await authed(hub, 'refresh/b');
    const bad = [
      'garbage',
      await sign({ actorId: 'refresh/b', exp: nowSeconds() - 120 }),
      await sign({ actorId: 'refresh/b', secret: 'another-secret' }),
      algNoneToken('refresh/b'),
    ];
    for (const token of bad) {
      const id = client.request('hub:refresh_token', { token });
      const reply = await client.reply(id);
      expectError(reply, 'hub:error', 'invalid_token', id);
      expect(JSON.stringify(reply)).not.toContain(token.length > 16 ? token : SECRET);
    }
    await client.expectAlive();
  });

  it('refuses a valid token of another identity (invalid_token, details.reason identity_mismatch)', async () => {
    const hub = freshHub('refresh-other');
    const { client } = await authed(hub, 'refresh/c');
    const foreign = await sign({ actorId: 'refresh/someone-else' });
    const id = client.request('hub:refresh_token', { token: foreign });
    // Contract §10: anything but this session's valid token is invalid_token.
    const payload = expectError(await client.reply(id), 'hub:error', 'invalid_token', id);
    expect(payload.details).toMatchObject({ reason: 'identity_mismatch' });
    await client.expectAlive();
  });
});

describe('token expiry while connected (§4)', () => {
  it('sends hub:disconnect {reason: token_expired} and closes 4401 at exp, with the object evicted meanwhile', async () => {
    const hub = freshHub('expiry');
    const exp = nowSeconds() + 2;
    const { client } = await authed(hub, 'expiry/a', { exp });
    await client.expectAlive();
    await hibernate(hub);

    const notice = await client.next((f) => f.type === 'hub:disconnect', 10_000);
    expect(notice).toMatchObject({ from: HUB_ADDRESS, correlationId: null, payload: { reason: 'token_expired' } });
    // The skew tolerance is for verification only: the session ends at exp, not 30 s later.
    expect(notice.timestamp).toBeGreaterThanOrEqual(exp * 1000);
    expect(notice.timestamp).toBeLessThan(exp * 1000 + 30_000);
    expect((await client.waitClosed()).code).toBe(4401);
    expect(timeline(client).slice(-2)).toEqual(['hub:disconnect', 'close:4401']);
  });

  it('accepts a token expired within the skew but ends the session at once', async () => {
    const hub = freshHub('expiry-skew');
    const exp = nowSeconds() - 10;
    const { client } = await authed(hub, 'expiry/skew', { exp });
    const notice = await client.next((f) => f.type === 'hub:disconnect');
    expect(notice.payload).toMatchObject({ reason: 'token_expired' });
    expect((await client.waitClosed()).code).toBe(4401);
    expect(timeline(client)).toEqual(['hub:connected', 'hub:disconnect', 'close:4401']);
  });

  it('keeps a session that refreshed in time open past the old expiry', async () => {
    const hub = freshHub('expiry-refresh');
    const exp = nowSeconds() + 2;
    const { client, token } = await authed(hub, 'expiry/b', { exp });
    const refreshed = await client.ask('hub:refresh_token', { token });
    expect(refreshed.type, JSON.stringify(refreshed.payload)).toBe('hub:token_refreshed');
    await hibernate(hub);

    await sleep(Math.max(0, exp * 1000 - Date.now()) + 1_500);
    expect(client.closed).toBeNull();
    await client.expectAlive();
    expect(timeline(client)).not.toContain('hub:disconnect');
  });
});

describe('scoped registration with auth on (§4)', () => {
  it('allows the identity and addresses below it, refuses anything else with scope_violation', async () => {
    const hub = freshHub('scope');
    const { client } = await authed(hub, 'scope/alice');
    for (const actorAddress of ['@(scope/alice)', '@(scope/alice/inbox)', '@(scope/alice/a/b)']) {
      const reply = await client.ask('hub:register', { actorAddress, capabilities: [] });
      expect(reply.type, `${actorAddress}: ${JSON.stringify(reply.payload)}`).toBe('hub:registered');
    }
    // Another actor, a sibling sharing the name as a prefix, and the parent.
    for (const actorAddress of ['@(scope/bob)', '@(scope/alice2)', '@(scope)', '@(other/scope/alice)']) {
      const id = client.request('hub:register', { actorAddress, capabilities: [] });
      const payload = expectError(await client.reply(id), 'hub:unauthorized', 'unauthorized', id);
      expect(payload, actorAddress).toMatchObject({ action: 'register', reason: 'scope_violation' });
    }
    const list = await client.ask('hub:list_actors', {});
    expect(list.payload.actors.map((a: Frame) => a.actorAddress)).toEqual([
      '@(scope/alice)',
      '@(scope/alice/a/b)',
      '@(scope/alice/inbox)',
    ]);

    // A registered sub-address may be used as from; a refused one may not.
    const ok = await client.ask('hub:heartbeat', { timestamp: 1 }, { from: '@(scope/alice/inbox)' });
    expect(ok.type).toBe('hub:heartbeat_ack');
    const id = client.request('hub:publish', { topic: 't', type: 'app.x', data: 2 }, { from: '@(scope/bob)' });
    expect(expectError(await client.reply(id), 'hub:unauthorized', 'unauthorized', id).reason).toBe('identity_mismatch');
  });
});

describe('permissions claim', () => {
  const restricted = { send: ['@(perm/allowed*)'], publish: ['events/*'], subscribe: ['events/*'], broadcast: false };

  it('refuses send, publish, subscribe and broadcast outside the claim with permission_denied and delivers nothing', async () => {
    const hub = freshHub('perm');
    const allowed = await authed(hub, 'perm/allowed-1');
    const denied = await authed(hub, 'perm/denied-1');
    for (const c of [allowed.client, denied.client]) {
      const reg = await c.ask('hub:register', { actorAddress: c.identity, capabilities: [] });
      expect(reg.type).toBe('hub:registered');
    }
    await denied.client.ask('hub:subscribe', { topic: 'news/today' });
    const { client: sender } = await authed(hub, 'perm/sender', { permissions: restricted });

    const refusals: [string, string][] = [];
    const check = async (action: string, id: string) => {
      const payload = expectError(await sender.reply(id), 'hub:unauthorized', 'unauthorized', id);
      refusals.push([payload.action, payload.reason]);
      expect(payload.action).toBe(action);
    };
    await check('send', sender.request('hub:send', { to: '@(perm/denied-1)', type: 'app.note', data: 1 }));
    await check('publish', sender.request('hub:publish', { topic: 'news/today', type: 'app.note', data: 2 }));
    await check('subscribe', sender.request('hub:subscribe', { topic: 'news/today' }));
    await check('broadcast', sender.request('hub:broadcast', { type: 'app.note', data: 3 }));
    expect(refusals.every(([, reason]) => reason === 'permission_denied')).toBe(true);

    await denied.client.expectAlive();
    await allowed.client.expectAlive();
    expect(appFrames(denied.client)).toEqual([]);
    expect(appFrames(allowed.client)).toEqual([]);
    await sender.expectAlive();
  });

  it('lets the allowed actions through', async () => {
    const hub = freshHub('perm-ok');
    const receiver = await authed(hub, 'perm/allowed-2');
    await receiver.client.ask('hub:register', { actorAddress: '@(perm/allowed-2)', capabilities: [] });
    await receiver.client.ask('hub:subscribe', { topic: 'events/x' });
    const { client: sender } = await authed(hub, 'perm/sender2', { permissions: restricted });

    const ack = await sender.ask('hub:send', { to: '@(perm/allowed-2)', type: 'app.note', data: 'direct' });
    expect(ack.type, JSON.stringify(ack.payload)).toBe('hub:delivery_ack');
    const sub = await sender.ask('hub:subscribe', { topic: 'events/x' });
    expect(sub.type, JSON.stringify(sub.payload)).toBe('hub:subscribed');
    const pub = await sender.ask('hub:publish', { topic: 'events/x', type: 'app.event', data: 'pub' });
    expect(pub.type, JSON.stringify(pub.payload)).toBe('hub:published');
    expect(pub.payload.subscriberCount).toBe(2);

    const direct = await receiver.client.next((f) => f.type === 'app.note');
    expect(direct).toMatchObject({ from: '@(perm/sender2)', payload: 'direct' });
    const event = await receiver.client.next((f) => f.type === 'app.event');
    expect(event).toMatchObject({ from: '@(perm/sender2)', payload: 'pub', metadata: { topic: 'events/x' } });

    // Without a permissions claim the configured defaults ({} = allow all) apply, broadcast included.
    const open = await authed(hub, 'perm/unrestricted');
    const bc = await open.client.ask('hub:broadcast', { type: 'app.all', data: 'hello' });
    expect(bc.type, JSON.stringify(bc.payload)).toBe('hub:broadcast_ack');
    expect(bc.payload.deliveredCount).toBe(1);
    expect((await receiver.client.next((f) => f.type === 'app.all')).from).toBe('@(perm/unrestricted)');
  });
});

describe('capabilities of the token decide targetCapability and discovery', () => {
  it('filters broadcasts and discover by token capabilities, not those the client registered', async () => {
    const hub = freshHub('caps');
    const gpu = await authed(hub, 'caps/gpu-box', { capabilities: ['gpu'] }, { capabilities: ['cpu'] });
    const cpu = await authed(hub, 'caps/cpu-box', { capabilities: ['cpu'] }, { capabilities: ['gpu'] });
    await gpu.client.ask('hub:register', { actorAddress: '@(caps/gpu-box)', capabilities: ['cpu'] });
    await cpu.client.ask('hub:register', { actorAddress: '@(caps/cpu-box)', capabilities: ['gpu'] });
    const { client: sender } = await authed(hub, 'caps/sender');

    const ack = await sender.ask('hub:broadcast', { type: 'job.offer', data: 1 }, { metadata: { targetCapability: 'gpu' } });
    expect(ack.payload).toMatchObject({ deliveredCount: 1, failedCount: 0, queuedCount: 0 });
    expect((await gpu.client.next((f) => f.type === 'job.offer')).to).toBe('@(caps/gpu-box)');
    await cpu.client.expectAlive();
    expect(appFrames(cpu.client)).toEqual([]);

    const found = await sender.ask('hub:discover', { pattern: 'caps/*', capability: 'gpu' });
    expect(found.payload.actors).toEqual([{ address: '@(caps/gpu-box)', capabilities: ['gpu'], metadata: {} }]);
  });
});

describe('secrets and tokens stay private', () => {
  it('never shows a token or the secret in list_actors, discover or metrics', async () => {
    const hub = freshHub('secret');
    const a = await authed(hub, 'secret/a', { capabilities: ['chat'] });
    const b = await authed(hub, 'secret/b');
    await a.client.ask('hub:register', { actorAddress: '@(secret/a)', capabilities: [], metadata: { room: 'lobby' } });
    await b.client.ask('hub:register', { actorAddress: '@(secret/b/inbox)', capabilities: [] });
    const refreshed = await a.client.ask('hub:refresh_token', { token: a.token });
    const fresh = refreshed.payload.token as string;

    const frames = [
      await b.client.ask('hub:list_actors', {}),
      await b.client.ask('hub:discover', { pattern: '*' }),
      await a.client.ask('hub:metrics', null),
    ];
    expect(frames.map((f) => f.type)).toEqual(['hub:actor_list', 'hub:discovered', 'hub:metrics_response']);
    expect(frames[0]!.payload.total).toBe(2);
    const secrets = [SECRET, a.token, b.token, fresh, ...[a.token, b.token, fresh].map((t) => t.split('.')[2]!)];
    for (const frame of frames) {
      const text = JSON.stringify(frame);
      for (const s of secrets) expect(text).not.toContain(s);
    }
    // The hub does hand a session its own token: only in hub:connected and hub:token_refreshed.
    expect(decodeProtectedHeader(fresh).alg).toBe('HS256');
  });
});
