import type { CloseParams, NoticeParams } from '../../machines/session';
import { releaseBuffer } from './delivery';
import type { IdentityIndex } from './identities';
import type { MachineAction } from './machine-step';
import type { Session, SessionSnapshot } from './session';
import { releaseSubscriptions } from './topics';
import { drainMailbox, expireMailbox } from './mailbox';
import { forgetSuspended, suspend } from './resume';
import type { Turn } from './turn';

/** Where a notice goes before the session has an identity. */
export const UNKNOWN_ADDRESS = '@(unknown)';

/**
 * Turns the actions a machine step returned into effects, in the order the
 * machine listed them: the machine decides what happens (notice before close,
 * acknowledge before close, release on the way out), this only performs it.
 */
export const performActions = (
  turn: Turn,
  session: Session,
  actions: readonly MachineAction[],
  identities: IdentityIndex,
): void => {
  const ctx = session.snapshot.context;
  for (const action of actions) {
    switch (action.type) {
      case 'sendDisconnectNotice': {
        const p = action.params as NoticeParams;
        turn.reply(session.connId, ctx.identity ?? UNKNOWN_ADDRESS, null, 'hub:disconnect', { reason: p.reason, message: p.message });
        break;
      }
      case 'sendDisconnectAck': {
        const p = action.params as { requestId: string };
        turn.reply(session.connId, ctx.identity ?? UNKNOWN_ADDRESS, p.requestId, 'hub:disconnect', { acknowledged: true });
        break;
      }
      case 'closeSocket': {
        const p = action.params as CloseParams;
        turn.close(session.connId, p.code, p.reason);
        turn.log.log('info', 'session.closing', { sessionId: ctx.sessionId, code: p.code, reason: p.reason });
        break;
      }
      case 'releaseResources': {
        const released = turn.host.registry.deleteByConn(session.connId);
        if (released.length > 0) turn.registryTouched = true;
        releaseSubscriptions(turn, session.connId);
        releaseBuffer(turn, session);
        // Released from `suspended` (grace over, or a duplicate): waiting asks fail resume_expired, the record goes.
        if (session.mailbox.count > 0) expireMailbox(turn, session);
        if (session.resumeHash !== null) forgetSuspended(turn.host.kv, session.connId);
        if (ctx.identity !== null) identities.release(ctx.identity, session);
        break;
      }
      case 'suspendSession':
        suspend(turn, session);
        break;
      case 'deliverMailbox':
        drainMailbox(turn, session);
        break;
      default:
        break; // assign actions were applied by the step itself
    }
  }
};

/** closing and closed: the session takes no more frames and its traffic has moved to the stored totals. */
export const isEnding = (snapshot: SessionSnapshot): boolean => snapshot.value === 'closing' || snapshot.value === 'closed';
