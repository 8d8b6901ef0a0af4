import fc from 'fast-check';
import { HUB_ADDRESS } from '../../src/protocol/envelope';
import { PING_FRAME } from '../../src/protocol/ping';
import { nextMessageId, openClient, type HubModel } from '../model';
import type { FuzzHub } from '../system';
import { HubCommand, defaultIdentity, learnHeartbeatReply, slotArb } from './common';

export const BAD_KINDS = [
  'garbage',
  'truncated',
  'array',
  'scalar',
  'deep',
  'missing-from',
  'bad-address',
  'bad-pattern',
  'bad-timestamp',
  'long-id',
  'unknown-hub-type',
  'app-type',
  'bad-payload',
  'expired-ask',
  'proto-keys',
  'oversize',
  'oversize-multibyte',
  'binary',
  'binary-garbage',
] as const;
export type BadKind = (typeof BAD_KINDS)[number];

/**
 * A frame a well-behaved client would never send. Every such frame must get
 * a (correlated, when its id is readable) error or nothing, never a crash,
 * and the connection stays open.
 */
export class BadFrame extends HubCommand {
  constructor(
    readonly slot: number,
    readonly kind: BadKind,
    readonly garbage: string,
  ) {
    super();
  }

  check(m: Readonly<HubModel>): boolean {
    if (this.kind.startsWith('oversize') && !m.profile.hugeFrames) return false;
    return openClient(m, this.slot) !== null;
  }

  async run(m: HubModel, r: FuzzHub): Promise<void> {
    const c = openClient(m, this.slot)!;
    const from = c.identity ?? defaultIdentity(c.slot);
    const base = (): Record<string, unknown> => ({
      id: nextMessageId(m),
      from,
      to: HUB_ADDRESS,
      type: 'hub:heartbeat',
      payload: null,
      pattern: 'ask',
      correlationId: null,
      timestamp: m.now,
      metadata: {},
      ttl: null,
      signature: null,
    });
    /** The hub may answer (a readable id), but need not: the frame is not a valid request. */
    const raw = (env: Record<string, unknown>, text = JSON.stringify(env)) => {
      r.remember(m, { id: String(env.id), socket: c.socket, type: String(env.type), pattern: null, from, due: 'never' });
      return r.step(m, { op: 'frame', socket: c.socket, text });
    };
    const limit = m.config.maxMessageSize;
    switch (this.kind) {
      case 'garbage':
        await r.step(m, { op: 'frame', socket: c.socket, text: this.garbage === PING_FRAME ? `${PING_FRAME} ` : this.garbage });
        return;
      case 'truncated': {
        const env = base();
        await raw(env, JSON.stringify(env).slice(0, -7));
        return;
      }
      case 'array':
        await r.step(m, { op: 'frame', socket: c.socket, text: '[{"id":1},2]' });
        return;
      case 'scalar':
        await r.step(m, { op: 'frame', socket: c.socket, text: this.garbage.length % 2 ? 'null' : '42' });
        return;
      case 'deep':
        await r.step(m, { op: 'frame', socket: c.socket, text: `${'['.repeat(1000)}${']'.repeat(1000)}` });
        return;
      case 'missing-from': {
        const { from: _f, ...env } = base();
        await raw(env);
        return;
      }
      case 'bad-address':
        await raw({ ...base(), to: 'hub' });
        return;
      case 'bad-pattern':
        await raw({ ...base(), pattern: 'maybe' });
        return;
      case 'bad-timestamp':
        await raw({ ...base(), timestamp: 'now' });
        return;
      case 'long-id':
        await r.step(m, { op: 'frame', socket: c.socket, text: JSON.stringify({ ...base(), id: 'x'.repeat(300) }) });
        return;
      case 'unknown-hub-type':
        await r.sendEnvelope(m, c, { ...base(), type: 'hub:teleport' });
        return;
      case 'app-type':
        await r.sendEnvelope(m, c, { ...base(), type: 'chat.message', payload: { text: this.garbage } });
        return;
      case 'bad-payload':
        await r.sendEnvelope(m, c, { ...base(), type: 'hub:register', payload: { actorAddress: 'not-canonical', capabilities: 'all' } });
        return;
      case 'expired-ask':
        await r.sendEnvelope(m, c, { ...base(), type: 'hub:list_actors', timestamp: 1_000, ttl: 5 });
        return;
      case 'proto-keys': {
        const env = base();
        const text = JSON.stringify(env).replace('"metadata":{}', '"metadata":{"__proto__":{"polluted":true},"constructor":{"prototype":{"x":1}}}');
        r.remember(m, { id: String(env.id), socket: c.socket, type: 'hub:heartbeat', pattern: 'ask', from, due: 'now' });
        await r.step(m, { op: 'frame', socket: c.socket, text }, learnHeartbeatReply(m, c));
        return;
      }
      case 'oversize':
        await raw({ ...base(), payload: { pad: 'x'.repeat(limit) } });
        return;
      case 'oversize-multibyte':
        // Fewer characters than the limit, more bytes: the size guard must count bytes.
        await raw({ ...base(), payload: { pad: 'é'.repeat(Math.ceil(limit / 2) + 8) } });
        return;
      case 'binary': {
        const env = base();
        r.remember(m, { id: String(env.id), socket: c.socket, type: 'hub:heartbeat', pattern: 'ask', from, due: 'now' });
        await r.step(m, { op: 'binary', socket: c.socket, base64: btoa(JSON.stringify(env)) }, learnHeartbeatReply(m, c));
        return;
      }
      case 'binary-garbage': {
        const bytes = [0xff, 0xfe, ...[...this.garbage].map((ch) => ch.charCodeAt(0) & 0xff), 0xc3];
        await r.step(m, { op: 'binary', socket: c.socket, base64: btoa(String.fromCharCode(...bytes)) });
        return;
      }
    }
  }

  toString(): string {
    return `bad_frame(${this.slot}, ${this.kind}${this.kind === 'garbage' ? `, ${JSON.stringify(this.garbage)}` : ''})`;
  }
}

export const badFrameArb = fc
  .record({ slot: slotArb, kind: fc.constantFrom(...BAD_KINDS), garbage: fc.string({ maxLength: 24 }) })
  .map((a) => new BadFrame(a.slot, a.kind, a.garbage));
