import { sniffId } from '../protocol/strings';
import type { Session } from './session';
import type { Turn } from './turn';

/** A handler threw: the sender still gets an answer, correlated when its id is readable, and the bug is logged. */
export const internalError = (turn: Turn, session: Session, err: unknown, raw: string | ArrayBuffer): void => {
  const requestId = typeof raw === 'string' ? sniffId(raw) : null;
  turn.log.log('error', 'request.internal_error', {
    sessionId: session.snapshot.context.sessionId,
    traceId: requestId ?? undefined,
    error: err instanceof Error ? `${err.name}: ${err.message}` : String(err),
  });
  turn.error(session.connId, session.snapshot.context.identity ?? '@(unknown)', requestId, {
    code: 'internal_error',
    message: 'The hub failed while handling this message.',
  });
};
