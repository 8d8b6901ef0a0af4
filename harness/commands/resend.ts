import fc from 'fast-check';
import { SeenSet } from '../../src/core/dedup';
import { IDEMPOTENT_TYPES } from '../../src/protocol/messages';
import { attachmentOf, violate } from '../invariants';
import type { HubModel } from '../model';
import type { FuzzHub, SentInfo } from '../system';
import { ClientCommand, describe, slotArb } from './common';

/** Replies that mean the request was acted on (and so is remembered as answered). */
const ACTED = new Set(['hub:delivery_ack', 'hub:broadcast_ack', 'hub:published', 'hub:registered', 'hub:subscribed']);

/**
 * A client in doubt sends an answered request again, byte for byte, with its
 * id (docs/PROTOCOL.md "Idempotent requests"). When the hub remembers the id
 * (in memory, or in storage after an eviction: an abrupt eviction before the
 * flush may forget it, which is the documented exposure), the repeat must be
 * answered with exactly the original reply and deliver nothing; the harness's
 * no-duplicate invariant watches every delivery.
 */
export class Resend extends ClientCommand {
  constructor(slot: number, readonly back: number) {
    super(slot, 'ask');
  }

  async run(m: HubModel, r: FuzzHub): Promise<void> {
    const c = this.client(m);
    const candidates = [...r.sent.values()].filter(
      (s) => s.socket === c.socket && s.text !== undefined && IDEMPOTENT_TYPES.has(s.type) && s.pattern === 'ask' && s.answers.length === 1 && ACTED.has(s.answers[0]!.type),
    );
    const sent = candidates[Math.max(0, candidates.length - 1 - this.back)];
    if (!sent || !this.remembered(r, sent)) return;
    const res = await r.resend(m, c, sent);
    const delivered = res.frames.filter((f) => f.frame.metadata?.originalMessageId === sent.id && f.frame.correlationId === null);
    if (delivered.length > 0) violate('idempotency', `the resend of ${sent.id} (${sent.type}) was delivered again`);
    // Refused before the seen-set is asked (rate limit): nothing happened, which is allowed.
    if (res.replies.length === 1 && res.replies[0]!.type === 'hub:rate_limited') return;
    if (JSON.stringify(res.replies) !== JSON.stringify(sent.answers)) {
      violate('idempotency', `the resend of ${sent.id} got ${JSON.stringify(res.replies)}, not its original reply ${JSON.stringify(sent.answers)}`);
    }
  }

  /** Whether the hub still has the id: the awake core's seen-set, or what storage says after an eviction. */
  private remembered(r: FuzzHub, sent: SentInfo): boolean {
    const { fake, config } = r.runner;
    const a = attachmentOf(r.runner, sent.socket);
    if (!a) return false;
    const scope = config.authEnabled && a.machine.context.identity !== null ? `i:${a.machine.context.identity}` : `s:${a.machine.context.sessionId}`;
    const seen = fake.awake ? fake.hub().seen : new SeenSet(fake.kv, config);
    return seen.repeat(scope, sent.id, r.now) !== null;
  }

  toString(): string {
    return describe('resend', this.slot, this.back > 0 && `back=${this.back}`);
  }
}

export const resendArb = fc
  .record({ slot: slotArb, back: fc.oneof({ arbitrary: fc.constant(0), weight: 3 }, { arbitrary: fc.integer({ min: 1, max: 4 }), weight: 1 }) })
  .map((a) => new Resend(a.slot, a.back));
