import fc from 'fast-check';
import { violate } from '../invariants';
import { CAPABILITIES, holderOf, learnRegistered, liveClient, type HubModel } from '../model';
import type { FuzzHub } from '../system';
import {
  ClientCommand,
  describe,
  fromOf,
  patternArb,
  resolveTarget,
  senderArb,
  showSender,
  showTarget,
  slotArb,
  targetArb,
  tellMark,
  type Pattern,
  type Sender,
  type Target,
} from './common';

/** hub:register, including addresses another session holds (last one wins). */
export class Register extends ClientCommand {
  constructor(
    slot: number,
    readonly target: Target,
    readonly capabilities: string[],
    readonly ttlSeconds: number | undefined,
    readonly renewOnHeartbeat: boolean,
    readonly sender: Sender,
    pattern: Pattern,
  ) {
    super(slot, pattern);
  }

  async run(m: HubModel, r: FuzzHub): Promise<void> {
    const c = this.client(m);
    // Someone else's address (a takeover) or one from the pool.
    const address = resolveTarget(m, this.target, c);
    const holder = holderOf(m, address);
    const previousVersion = m.versions.get(address);
    const { res, reply } = await this.exchange(
      m,
      r,
      c,
      'hub:register',
      {
        actorAddress: address,
        capabilities: this.capabilities,
        ...(this.ttlSeconds !== undefined ? { ttlSeconds: this.ttlSeconds } : {}),
        ...(this.renewOnHeartbeat ? { metadata: { renewOnHeartbeat: true } } : {}),
      },
      ['hub:registered', 'hub:error', 'hub:unauthorized'],
      { from: fromOf(c, this.sender) },
      ({ replies: [r0] }) => {
        if (r0?.type === 'hub:registered') learnRegistered(m, c, r0.payload, this.renewOnHeartbeat);
      },
    );
    if (reply?.type !== 'hub:registered') return;
    if (!liveClient(m, this.slot)) violate('model', 'a registration was granted to a session that is not connected');
    if (holder && holder !== c) {
      // Last one wins: the older holder is told, then closed, in this same step.
      const notice = res.frames.find((f) => f.socket === holder.socket && f.frame.type === 'hub:disconnect');
      if (notice?.frame.payload?.reason !== 'duplicate_connection') {
        violate('duplicate', `${holder.socket} held ${address} but got no duplicate_connection notice`);
      }
      if (res.report.outputs.closes?.[holder.socket]?.code !== 4409) violate('duplicate', `${holder.socket} was not closed with 4409`);
      if (previousVersion !== undefined && reply.payload.version !== previousVersion + 1) {
        violate('duplicate', `version after a takeover is ${reply.payload.version}, expected ${previousVersion + 1}`);
      }
    }
  }

  toString(): string {
    return describe(
      'register',
      this.slot,
      showTarget(this.target),
      this.capabilities.length > 0 && `caps=${this.capabilities}`,
      this.ttlSeconds !== undefined && `ttl=${this.ttlSeconds}s`,
      this.renewOnHeartbeat && 'renewOnHeartbeat',
      showSender(this.sender),
      tellMark(this.pattern),
    );
  }
}

export const registerArb = fc
  .record({
    slot: slotArb,
    target: targetArb,
    capabilities: fc.subarray([...CAPABILITIES]),
    ttlSeconds: fc.option(fc.constantFrom(1, 3, 30, 100_000), { nil: undefined, freq: 2 }),
    renewOnHeartbeat: fc.boolean(),
    sender: senderArb,
    pattern: patternArb,
  })
  .map((a) => new Register(a.slot, a.target, a.capabilities, a.ttlSeconds, a.renewOnHeartbeat, a.sender, a.pattern));
