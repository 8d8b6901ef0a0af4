import fc from 'fast-check';
import { violate } from '../invariants';
import { openClient, type HubModel } from '../model';
import type { FuzzHub } from '../system';
import { HubCommand, expectReplyType, patternArb, slotArb } from './common';

/** hub:refresh_token with the session's current token or a wrong one. */
export class RefreshToken extends HubCommand {
  constructor(
    readonly slot: number,
    readonly valid: boolean,
    readonly pattern: 'ask' | 'tell',
  ) {
    super();
  }

  check(m: Readonly<HubModel>): boolean {
    return openClient(m, this.slot) !== null && (m.profile.reuseIssuedValues || !this.valid);
  }

  async run(m: HubModel, r: FuzzHub): Promise<void> {
    const c = openClient(m, this.slot)!;
    const token = this.valid && c.sessionToken ? c.sessionToken : 'not-a-session-token';
    const res = await r.request(m, c, 'hub:refresh_token', { token }, { pattern: this.pattern });
    const reply = expectReplyType(res, 'refresh_token', ['hub:token_refreshed', 'hub:error', 'hub:unauthorized']);
    if (token === 'not-a-session-token' && reply?.type === 'hub:token_refreshed') violate('model', 'a made-up token was refreshed');
  }

  toString(): string {
    return `refresh_token(${this.slot}, ${this.valid ? 'current' : 'wrong'}${this.pattern === 'tell' ? ', tell' : ''})`;
  }
}

export const refreshTokenArb = fc
  .record({ slot: slotArb, valid: fc.boolean(), pattern: patternArb })
  .map((a) => new RefreshToken(a.slot, a.valid, a.pattern));
