import fc from 'fast-check';
import { violate } from '../invariants';
import type { HubModel } from '../model';
import type { FuzzHub } from '../system';
import { ClientCommand, describe, patternArb, slotArb, tellMark, type Pattern } from './common';

/** hub:refresh_token with the session's current token or a wrong one. */
export class RefreshToken extends ClientCommand {
  constructor(
    slot: number,
    readonly valid: boolean,
    pattern: Pattern,
  ) {
    super(slot, pattern);
  }

  override check(m: Readonly<HubModel>): boolean {
    return super.check(m) && (m.profile.reuseIssuedValues || !this.valid);
  }

  async run(m: HubModel, r: FuzzHub): Promise<void> {
    const c = this.client(m);
    const token = this.valid && c.sessionToken ? c.sessionToken : 'not-a-session-token';
    const { reply } = await this.exchange(m, r, c, 'hub:refresh_token', { token }, ['hub:token_refreshed', 'hub:error', 'hub:unauthorized'], {}, ({ replies: [r0] }) => {
      if (r0?.type === 'hub:token_refreshed') c.sessionToken = r0.payload.token;
    });
    if (token === 'not-a-session-token' && reply?.type === 'hub:token_refreshed') violate('model', 'a made-up token was refreshed');
  }

  toString(): string {
    return describe('refresh_token', this.slot, this.valid ? 'current' : 'wrong', tellMark(this.pattern));
  }
}

export const refreshTokenArb = fc
  .record({ slot: slotArb, valid: fc.boolean(), pattern: patternArb })
  .map((a) => new RefreshToken(a.slot, a.valid, a.pattern));
