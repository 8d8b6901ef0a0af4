import fc from 'fast-check';
import { SignJWT, base64url } from 'jose';
import { describe, expect, it } from 'vitest';
import { FakeHubObject, configWith, type FakeSocket } from '../../harness/fake-object';
import { buildRequest } from '../../src/protocol/build';
import { HUB_ADDRESS, PROTOCOL_VERSION } from '../../src/protocol/envelope';

/**
 * Auth properties over random tokens and random traffic, driven through the
 * fake Durable Object with auth on. Frames go through the same runtime
 * adapter as in the Durable Object, so token verdicts come from the same
 * auth preparation, at the simulated time. The model below decides validity
 * from how each token was built, independently of src/auth.
 */

const SECRET = 'property-secret';
const CLOCK_SKEW_MS = 30_000;
const ACTORS = ['p/a', 'p/a/sub', 'p/b', 'q'] as const;
/** Identities, addresses below them, siblings sharing a prefix, parents, strangers. */
const ADDRESSES = ['@(p/a)', '@(p/a/x)', '@(p/a/sub)', '@(p/a/sub/y)', '@(p/b)', '@(p/b/z)', '@(q)', '@(q/w)', '@(p)', '@(p/ab)', '@(zz)'];
const TOPICS = ['t/1', 'u', 'v'];
const LIVE = new Set(['registered', 'paused', 'rate-limited']);

const TOKEN_KINDS = [
  'valid',
  'wrong_secret',
  'alg_none',
  'expired',
  'not_yet_valid',
  'wrong_issuer',
  'no_exp',
  'no_actor',
  'no_issuer',
  'legacy_010',
  'bad_actor',
  'hs512',
  'tampered',
  'malformed',
  'missing',
] as const;
type TokenKind = (typeof TOKEN_KINDS)[number];

interface TokenSpec {
  kind: TokenKind;
  actorId: (typeof ACTORS)[number];
  capabilities: string[];
  permissions: Record<string, unknown> | undefined;
  lifetimeSeconds: number;
  bearer: boolean;
  junk: string;
}

/** Kinds the hub accepts: ours, and the 0.1.0 clients' own (no iss, identity from sub). */
const ACCEPTED_KINDS: ReadonlySet<TokenKind> = new Set(['valid', 'no_actor', 'no_issuer', 'legacy_010']);

interface Token {
  spec: TokenSpec;
  /** What goes into metadata.authToken / payload.token; undefined = left out. */
  text: string | undefined;
  identity: string;
  /** Epoch seconds, for signed tokens. */
  exp: number | null;
}

const tokenSpecArb: fc.Arbitrary<TokenSpec> = fc.record({
  // Valid tokens about as often as all the broken kinds together, so sessions do get in and talk.
  kind: fc.oneof({ arbitrary: fc.constant('valid' as const), weight: 10 }, { arbitrary: fc.constantFrom(...TOKEN_KINDS), weight: 10 }),
  actorId: fc.constantFrom(...ACTORS),
  capabilities: fc.subarray(['chat', 'gpu']),
  permissions: fc.option(
    fc.record(
      {
        send: fc.subarray(['@(p/*)', '@(q)', '*']),
        publish: fc.subarray(['t/*', 'u']),
        subscribe: fc.subarray(['t/*', 'u']),
        broadcast: fc.boolean(),
      },
      { requiredKeys: [] },
    ),
    { nil: undefined, freq: 2 },
  ),
  lifetimeSeconds: fc.integer({ min: 1, max: 120 }),
  bearer: fc.boolean(),
  junk: fc.string({ maxLength: 40 }),
});

const b64json = (value: unknown): string => base64url.encode(JSON.stringify(value));

const mint = async (spec: TokenSpec, nowMs: number): Promise<Token> => {
  const now = Math.floor(nowMs / 1000);
  // Without an actorId claim the identity is the subject (0.1.0 tokens).
  const identity = spec.kind === 'no_actor' || spec.kind === 'legacy_010' ? `@(user:${spec.actorId})` : `@(${spec.actorId})`;
  const sign = async (opts: { secret?: string; iss?: string | null; exp?: number | null; nbf?: number; actorId?: string | null; alg?: string }) => {
    const claims: Record<string, unknown> = { capabilities: spec.capabilities };
    if (opts.actorId !== null) claims.actorId = opts.actorId ?? spec.actorId;
    if (spec.permissions) claims.permissions = spec.permissions;
    const jwt = new SignJWT(claims).setProtectedHeader({ alg: opts.alg ?? 'HS256', typ: 'JWT' }).setSubject(`user:${spec.actorId}`).setIssuedAt(now);
    if (opts.iss !== null) jwt.setIssuer(opts.iss ?? 'signal-hub');
    if (opts.exp !== null) jwt.setExpirationTime(opts.exp ?? now + spec.lifetimeSeconds);
    if (opts.nbf !== undefined) jwt.setNotBefore(opts.nbf);
    return jwt.sign(new TextEncoder().encode(opts.secret ?? SECRET));
  };
  let raw: string | undefined;
  let exp: number | null = now + spec.lifetimeSeconds;
  switch (spec.kind) {
    case 'valid':
      raw = await sign({});
      break;
    case 'wrong_secret':
      raw = await sign({ secret: `${SECRET}-other` });
      break;
    case 'alg_none':
      raw = `${b64json({ alg: 'none', typ: 'JWT' })}.${b64json({ iss: 'signal-hub', sub: 'x', actorId: spec.actorId, exp })}.`;
      break;
    case 'expired':
      // Beyond the skew, and the simulated clock only moves forward.
      exp = now - 31 - spec.lifetimeSeconds;
      raw = await sign({ exp });
      break;
    case 'not_yet_valid':
      // Further ahead than any run advances the clock.
      raw = await sign({ nbf: now + 100_000, exp: now + 200_000 });
      break;
    case 'wrong_issuer':
      raw = await sign({ iss: 'not-signal-hub' });
      break;
    case 'no_exp':
      exp = null;
      raw = await sign({ exp: null });
      break;
    case 'no_actor':
      raw = await sign({ actorId: null });
      break;
    case 'no_issuer':
      raw = await sign({ iss: null });
      break;
    case 'legacy_010':
      raw = await sign({ iss: null, actorId: null });
      break;
    case 'bad_actor':
      raw = await sign({ actorId: `${spec.actorId})x` });
      break;
    case 'hs512':
      raw = await sign({ alg: 'HS512' });
      break;
    case 'tampered': {
      const [header, , signature] = (await sign({ actorId: 'zz' })).split('.');
      raw = `${header}.${b64json({ iss: 'signal-hub', sub: 'x', actorId: spec.actorId, capabilities: [], exp })}.${signature}`;
      break;
    }
    case 'malformed':
      raw = spec.junk;
      break;
    case 'missing':
      raw = undefined;
      break;
  }
  const text = raw === undefined ? undefined : spec.bearer ? `bearer ${raw}` : raw;
  return { spec, text, identity, exp };
};

/** Could the hub accept this token at `now`? Only a correctly signed, unexpired HS256 token of an accepted kind. */
const possiblyValid = (token: Token, now: number): boolean =>
  ACCEPTED_KINDS.has(token.spec.kind) && token.exp !== null && token.exp * 1000 + CLOCK_SKEW_MS + 1000 > now;

const inScope = (identity: string, address: string): boolean =>
  address === identity || address.slice(2, -1).startsWith(`${identity.slice(2, -1)}/`);

/**
 * The `from` a register carries: the session identity, the address being
 * registered (as 0.1.0 clients send it), or any address at all. None of them
 * may let a later delivery carry a `from` the session does not hold.
 */
type RegisterFrom = 'identity' | 'address' | (typeof ADDRESSES)[number];

type Action =
  | { kind: 'open' }
  | { kind: 'connect'; socket: number; token: number; from: string; claimCaps: boolean }
  | { kind: 'disguised_connect'; socket: number; token: number }
  | { kind: 'register'; socket: number; address: string | null; from: RegisterFrom }
  | { kind: 'send'; socket: number; from: string | null; to: string; ask: boolean }
  | { kind: 'publish'; socket: number; from: string | null; topic: string }
  | { kind: 'subscribe'; socket: number; from: string | null; topic: string }
  | { kind: 'broadcast'; socket: number; from: string | null; capability: string | null }
  | { kind: 'refresh'; socket: number; token: number }
  | { kind: 'heartbeat'; socket: number; from: string | null }
  | { kind: 'garbage'; socket: number; text: string }
  | { kind: 'disconnect'; socket: number }
  | { kind: 'close'; socket: number }
  | { kind: 'advance'; ms: number }
  | { kind: 'hibernate' };

const sock = fc.nat({ max: 7 });
/** null: the session's own identity (the common case); otherwise any address, often not its own. */
const fromArb = fc.option(fc.constantFrom(...ADDRESSES), { nil: null, freq: 2 });
const tokenIdx = fc.nat({ max: 5 });

const actionArb: fc.Arbitrary<Action> = fc.oneof(
  { arbitrary: fc.constant({ kind: 'open' as const }), weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant('connect' as const), socket: sock, token: tokenIdx, from: fc.constantFrom(...ADDRESSES), claimCaps: fc.boolean() }), weight: 5 },
  { arbitrary: fc.record({ kind: fc.constant('disguised_connect' as const), socket: sock, token: tokenIdx }), weight: 1 },
  {
    arbitrary: fc.record({
      kind: fc.constant('register' as const),
      socket: sock,
      address: fromArb,
      from: fc.constantFrom<RegisterFrom>('identity', 'address', ...ADDRESSES),
    }),
    weight: 4,
  },
  { arbitrary: fc.record({ kind: fc.constant('send' as const), socket: sock, from: fromArb, to: fc.constantFrom(...ADDRESSES), ask: fc.boolean() }), weight: 5 },
  { arbitrary: fc.record({ kind: fc.constant('publish' as const), socket: sock, from: fromArb, topic: fc.constantFrom(...TOPICS) }), weight: 3 },
  { arbitrary: fc.record({ kind: fc.constant('subscribe' as const), socket: sock, from: fromArb, topic: fc.constantFrom(...TOPICS) }), weight: 3 },
  { arbitrary: fc.record({ kind: fc.constant('broadcast' as const), socket: sock, from: fromArb, capability: fc.option(fc.constantFrom('chat', 'gpu'), { nil: null, freq: 2 }) }), weight: 3 },
  { arbitrary: fc.record({ kind: fc.constant('refresh' as const), socket: sock, token: tokenIdx }), weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant('heartbeat' as const), socket: sock, from: fromArb }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('garbage' as const), socket: sock, text: fc.string({ maxLength: 60 }) }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('disconnect' as const), socket: sock }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('close' as const), socket: sock }), weight: 1 },
  // Mostly short steps; sometimes long enough for connect timeouts and token expiry.
  {
    arbitrary: fc.record({
      kind: fc.constant('advance' as const),
      ms: fc.oneof({ arbitrary: fc.integer({ min: 0, max: 3_000 }), weight: 4 }, { arbitrary: fc.integer({ min: 0, max: 40_000 }), weight: 1 }),
    }),
    weight: 3,
  },
  { arbitrary: fc.constant({ kind: 'hibernate' as const }), weight: 2 },
);

/** What the test knows about one socket, independently of the hub. */
interface Model {
  socket: FakeSocket;
  /** The token of a connect that could have been accepted (the only way out of `connecting`). */
  accepted: Token | null;
  /** Addresses the hub confirmed registering for this socket. */
  registered: Set<string>;
  /** When the session's current token expires (ms), from hub:connected / hub:token_refreshed. */
  tokenExpiresAt: number | null;
}

const stateOf = (socket: FakeSocket): string | undefined =>
  (socket.attachment as { machine?: { value?: string } } | null)?.machine?.value;

const identityOf = (socket: FakeSocket): string | null | undefined =>
  (socket.attachment as { machine?: { context?: { identity?: string | null } } } | null)?.machine?.context?.identity;

const runScenario = async (specs: TokenSpec[], actions: Action[]): Promise<void> => {
  const fake = new FakeHubObject(configWith({ authEnabled: true }), { secret: SECRET });
  const tokens = await Promise.all(specs.map((s) => mint(s, fake.clock.now())));
  const models: Model[] = [];
  const open = (): Model => {
    const m: Model = { socket: fake.open(), accepted: null, registered: new Set(), tokenExpiresAt: null };
    models.push(m);
    return m;
  };
  for (let i = 0; i < 3; i++) open();

  /** A frame from a client; the adapter verifies the token it carries before the core sees it. */
  const frame = async (m: Model, text: string): Promise<void> => {
    if (m.socket.closed) return;
    await fake.send(m.socket, text);
  };
  const speaker = (m: Model, from: string | null): string => from ?? m.accepted?.identity ?? '@(p/a)';

  for (const action of actions) {
    /**
     * Which socket a frame comes from. Mostly one where the frame can matter
     * (connect from a connecting socket, traffic from a live one), so runs
     * reach delivery; indexes 6 and 7 pick any open socket, so frames in the
     * wrong state keep being tried too.
     */
    const pick = (i: number, prefer: 'connecting' | 'live'): Model => {
      const usable = models.filter((m) => !m.socket.closed);
      const wanted = usable.filter((m) => (prefer === 'live' ? LIVE.has(stateOf(m.socket) ?? '') : stateOf(m.socket) === 'connecting'));
      const pool = i < 6 && wanted.length > 0 ? wanted : usable;
      return pool.length > 0 ? pool[i % pool.length]! : open();
    };
    const before = new Map(models.map((m) => [m, m.socket.received.length]));
    let actor: Model | null = null;
    let sentFrom: string | null = null;

    switch (action.kind) {
      case 'open':
        open();
        break;
      case 'connect': {
        actor = pick(action.socket, 'connecting');
        const token = tokens[action.token % tokens.length]!;
        const metadata: Record<string, unknown> = { protocolVersion: PROTOCOL_VERSION };
        if (token.text !== undefined) metadata.authToken = token.text;
        if (action.claimCaps) metadata.capabilities = ['chat', 'gpu', 'admin'];
        if (actor.accepted === null && !actor.socket.closed && possiblyValid(token, fake.clock.now())) actor.accepted = token;
        await frame(actor, JSON.stringify(buildRequest('hub:connect', null, { from: action.from, metadata })));
        break;
      }
      case 'disguised_connect': {
        // The type written with a JSON escape: the same message once parsed, but no plain "hub:connect" substring.
        actor = pick(action.socket, 'connecting');
        const token = tokens[action.token % tokens.length]!;
        const text = JSON.stringify(
          buildRequest('hub:connect', null, { from: '@(p/a)', metadata: { protocolVersion: PROTOCOL_VERSION, authToken: token.text ?? 'x' } }),
        ).replace('"hub:connect"', '"hub\\u003aconnect"');
        await frame(actor, text);
        break;
      }
      case 'register': {
        actor = pick(action.socket, 'live');
        const address = speaker(actor, action.address);
        const from = action.from === 'identity' ? speaker(actor, null) : action.from === 'address' ? address : action.from;
        await frame(actor, JSON.stringify(buildRequest('hub:register', { actorAddress: address, capabilities: ['gpu'] }, { from })));
        break;
      }
      case 'send':
        actor = pick(action.socket, 'live');
        sentFrom = speaker(actor, action.from);
        await frame(
          actor,
          JSON.stringify(buildRequest('hub:send', { to: action.to, type: 'app.msg', data: 1 }, { from: sentFrom, pattern: action.ask ? 'ask' : 'tell' })),
        );
        break;
      case 'publish':
        actor = pick(action.socket, 'live');
        sentFrom = speaker(actor, action.from);
        await frame(actor, JSON.stringify(buildRequest('hub:publish', { topic: action.topic, type: 'app.pub', data: 2 }, { from: sentFrom })));
        break;
      case 'subscribe':
        actor = pick(action.socket, 'live');
        await frame(actor, JSON.stringify(buildRequest('hub:subscribe', { topic: action.topic }, { from: speaker(actor, action.from) })));
        break;
      case 'broadcast':
        actor = pick(action.socket, 'live');
        sentFrom = speaker(actor, action.from);
        await frame(
          actor,
          JSON.stringify(
            buildRequest('hub:broadcast', { type: 'app.all', data: 3 }, {
              from: sentFrom,
              metadata: action.capability ? { targetCapability: action.capability } : {},
            }),
          ),
        );
        break;
      case 'refresh': {
        actor = pick(action.socket, 'live');
        const token = tokens[action.token % tokens.length]!;
        await frame(actor, JSON.stringify(buildRequest('hub:refresh_token', { token: token.text ?? 'x' }, { from: speaker(actor, null) })));
        break;
      }
      case 'heartbeat':
        actor = pick(action.socket, 'live');
        await frame(actor, JSON.stringify(buildRequest('hub:heartbeat', null, { from: speaker(actor, action.from) })));
        break;
      case 'garbage':
        actor = pick(action.socket, 'live');
        await frame(actor, action.text);
        break;
      case 'disconnect':
        actor = pick(action.socket, 'live');
        await frame(actor, JSON.stringify(buildRequest('hub:disconnect', null, { from: speaker(actor, null) })));
        break;
      case 'close':
        fake.clientClose(pick(action.socket, 'live').socket);
        break;
      case 'advance':
        fake.advance(action.ms);
        break;
      case 'hibernate':
        fake.hibernate();
        break;
    }
    // The client echoes every close the hub starts, as workerd reports it back.
    fake.completeCloses();

    const label = `${JSON.stringify(action)} at ${fake.clock.now()}`;
    for (const m of models) {
      const fresh = m.socket.received.slice(before.get(m) ?? 0).map((f) => JSON.parse(f) as Record<string, any>);
      for (const f of fresh) {
        if (f.from === HUB_ADDRESS) {
          if (f.type === 'hub:connected') {
            // Out of `connecting` only with a token the model accepts, and as that token's identity.
            expect(m.accepted, `hub:connected without a valid token: ${label}`).not.toBeNull();
            expect(f.metadata.actorIdentity, label).toBe(m.accepted!.identity);
            m.tokenExpiresAt = f.payload.tokenExpiresAt;
          } else if (f.type === 'hub:registered') {
            expect(inScope(m.accepted?.identity ?? '', f.payload.actorAddress), `out-of-scope registration: ${label}`).toBe(true);
            m.registered.add(f.payload.actorAddress);
          } else if (f.type === 'hub:token_refreshed') {
            m.tokenExpiresAt = f.payload.expiresAt;
          }
          continue;
        }
        // A delivery. Traffic only flows in the acting session's own turn here (no pause, no batches).
        expect(actor, `delivery outside a sender's turn: ${label}`).not.toBeNull();
        const allowed = new Set([actor!.accepted?.identity, ...actor!.registered]);
        expect(allowed.has(f.from), `delivered with from ${f.from}, allowed ${[...allowed].join(',')}: ${label}`).toBe(true);
        expect(f.from, label).toBe(sentFrom);
      }
    }
    for (const m of models) {
      const state = stateOf(m.socket);
      if (m.accepted === null) {
        expect(LIVE.has(state ?? ''), `session without a valid token is ${state}: ${label}`).toBe(false);
        expect(identityOf(m.socket) ?? null, label).toBeNull();
      }
      // After the clock moved (alarms fired), no live session outlasts its token.
      if (action.kind === 'advance' && state !== undefined && LIVE.has(state)) {
        expect(m.tokenExpiresAt, label).not.toBeNull();
        expect(m.tokenExpiresAt!, `live past token expiry: ${label}`).toBeGreaterThan(fake.clock.now());
      }
    }
  }

  // No credential ever reaches a log line.
  const logText = JSON.stringify(fake.logs);
  expect(logText).not.toContain(SECRET);
  for (const t of tokens) {
    const signature = t.text?.split('.')[2];
    if (signature && signature.length > 10) expect(logText).not.toContain(signature);
  }
};

describe('auth properties (random tokens, claims and frames)', () => {
  it('no delivery carries a from outside the sender\'s allowed set; no session without a valid token leaves connecting', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(tokenSpecArb, { minLength: 2, maxLength: 6 }),
        // The first sockets start by connecting, so most runs have sessions that talk.
        fc.array(actionArb, { minLength: 5, maxLength: 60, size: 'medium' }).map((rest): Action[] => [
          { kind: 'connect', socket: 0, token: 0, from: '@(p/a)', claimCaps: false },
          { kind: 'connect', socket: 0, token: 1, from: '@(p/b)', claimCaps: true },
          { kind: 'connect', socket: 0, token: 2, from: '@(q)', claimCaps: false },
          ...rest,
        ]),
        runScenario,
      ),
      { numRuns: 100, seed: 0x5eed_a07 },
    );
  }, 60_000);
});
