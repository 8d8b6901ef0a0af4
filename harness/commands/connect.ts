import fc from 'fast-check';
import { mintToken } from '../../src/auth/jwt';
import { PROTOCOL_VERSION } from '../../src/protocol/envelope';
import { violate } from '../invariants';
import { CAPABILITIES, learnConnected, openClient, type HubModel } from '../model';
import type { FuzzHub } from '../system';
import { HubCommand, framesOn, identityArb, slotArb } from './common';

type Version = 'current' | 'v-prefixed' | 'other-major' | 'missing';
/** Auth on: which token the client presents. */
type TokenKind = 'long' | 'short' | 'expired' | 'wrong-secret' | 'garbage' | 'none' | 'scoped';

/** hub:connect, well-formed or not, on a new or an already connected session. */
export class Connect extends HubCommand {
  constructor(
    readonly slot: number,
    readonly identity: string,
    readonly version: Version,
    readonly capabilities: string[],
    readonly token: TokenKind,
  ) {
    super();
  }

  check(m: Readonly<HubModel>): boolean {
    return openClient(m, this.slot) !== null;
  }

  private async authToken(m: HubModel, r: FuzzHub): Promise<string | undefined> {
    const secret = r.header.jwtSecret;
    const actorId = this.identity.slice(2, -1);
    switch (this.token) {
      case 'none':
        return undefined;
      case 'garbage':
        return 'bearer not.a.jwt';
      case 'long':
        return `Bearer ${await mintToken(secret, { actorId, lifetimeSeconds: 3600, now: m.now, capabilities: [...CAPABILITIES] })}`;
      case 'short':
        return mintToken(secret, { actorId, lifetimeSeconds: 2, now: m.now });
      case 'scoped':
        return mintToken(secret, {
          actorId,
          lifetimeSeconds: 600,
          now: m.now,
          permissions: { send: ['@(a*)'], publish: ['news'], subscribe: ['news', 'chat.*'], broadcast: false },
        });
      case 'expired':
        return mintToken(secret, { actorId, lifetimeSeconds: 1, now: m.now - 120_000 });
      case 'wrong-secret':
        return mintToken(`${secret}-not`, { actorId, lifetimeSeconds: 3600, now: m.now });
    }
  }

  async run(m: HubModel, r: FuzzHub): Promise<void> {
    const c = openClient(m, this.slot)!;
    const wasConnecting = c.phase === 'connecting';
    const metadata: Record<string, unknown> = {};
    if (this.version === 'current') metadata.protocolVersion = PROTOCOL_VERSION;
    if (this.version === 'v-prefixed') metadata.protocolVersion = `v${PROTOCOL_VERSION}`;
    if (this.version === 'other-major') metadata.protocolVersion = '7.0.0';
    if (this.capabilities.length > 0) metadata.capabilities = this.capabilities;
    if (m.config.authEnabled) {
      const token = await this.authToken(m, r);
      if (token !== undefined) metadata.authToken = token;
    }
    const res = await r.request(m, c, 'hub:connect', null, { from: this.identity, metadata }, ({ replies: [reply] }) => {
      if (reply?.type === 'hub:connected') learnConnected(c, reply.metadata.actorIdentity, reply.payload.token ?? null);
    });
    const reply = res.replies[0];
    if (!wasConnecting) {
      if (reply && reply.payload?.code !== 'invalid_message' && reply.type !== 'hub:rate_limited' && reply.type !== 'hub:unauthorized') {
        violate('model', `a second hub:connect must be refused, got ${JSON.stringify(reply)}`);
      }
      return;
    }
    // Connect is exempt from rate limiting, so a connecting session always gets a verdict.
    if (!reply) violate('replies', `hub:connect on ${c.socket} got no reply`);
    const authOk = !m.config.authEnabled || ['long', 'short', 'scoped'].includes(this.token);
    if (this.version === 'other-major') {
      if (reply!.type !== 'hub:version_mismatch') violate('model', `protocol 7.0.0 must be refused, got ${reply!.type}`);
      if (res.report.outputs.closes?.[c.socket]?.code !== 4400) violate('model', 'a version mismatch must close the socket with 4400');
    } else if (this.version === 'missing') {
      if (reply!.payload?.code !== 'invalid_message') violate('model', `connect without protocolVersion must be invalid_message, got ${reply!.type}`);
    } else if (!authOk) {
      if (reply!.type !== 'hub:unauthorized') violate('model', `connect with a ${this.token} token must be unauthorized, got ${reply!.type}`);
      if (res.report.outputs.closes?.[c.socket]?.code !== 4401) violate('model', 'a refused token must close the socket with 4401');
    } else {
      if (reply!.type !== 'hub:connected') violate('model', `connect must succeed, got ${JSON.stringify(reply)}`);
      const seen = framesOn(res, c.socket);
      if (seen[seen.length - 1] !== reply) violate('model', 'hub:connected must be the last frame of the connect step');
    }
  }

  toString(): string {
    return `connect(${this.slot}, ${this.identity}, ${this.version}${this.capabilities.length ? `, caps=${this.capabilities}` : ''}, token=${this.token})`;
  }
}

export const connectArb = fc
  .record({
    slot: slotArb,
    identity: identityArb,
    version: fc.oneof(
      { arbitrary: fc.constant<Version>('current'), weight: 6 },
      { arbitrary: fc.constantFrom<Version>('v-prefixed', 'other-major', 'missing'), weight: 1 },
    ),
    capabilities: fc.subarray([...CAPABILITIES]),
    token: fc.oneof(
      { arbitrary: fc.constantFrom<TokenKind>('long', 'short'), weight: 8 },
      { arbitrary: fc.constantFrom<TokenKind>('scoped', 'expired', 'wrong-secret', 'garbage', 'none'), weight: 2 },
    ),
  })
  .map((a) => new Connect(a.slot, a.identity, a.version, a.capabilities, a.token));
