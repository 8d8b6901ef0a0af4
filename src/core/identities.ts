import { isReachable, type Session } from './session';

/**
 * Which connection an identity reaches when no registration names it: a send
 * to a connected but unregistered actor goes here. With auth off several
 * sessions may share an identity; the most recently opened live (or suspended) one wins,
 * decided from durable data only (openedAt, sessionId), so a hub rebuilt
 * after a wake, which meets the sessions in socket order, picks the same one.
 */
export class IdentityIndex {
  private readonly byIdentity = new Map<string, string>();

  constructor(private readonly sessions: ReadonlyMap<string, Session>) {}

  claim(identity: string, session: Session): void {
    const holder = this.resolve(identity);
    if (!holder || holder === session || isNewer(session, holder)) this.byIdentity.set(identity, session.connId);
  }

  resolve(identity: string): Session | null {
    const connId = this.byIdentity.get(identity);
    const session = connId !== undefined ? this.sessions.get(connId) : undefined;
    // A suspended session keeps its identity for the grace period: sends to it wait in its mailbox.
    return session && isReachable(session) ? session : null;
  }

  /** The session lets go of its identity; another live session with the same identity takes it over. */
  release(identity: string, session: Session): void {
    if (this.byIdentity.get(identity) !== session.connId) return;
    this.byIdentity.delete(identity);
    for (const other of this.sessions.values()) {
      if (other !== session && isReachable(other) && other.snapshot.context.identity === identity) this.claim(identity, other);
    }
  }

  /** A resumed session moved from connection `old` to its new one; the identity follows it. */
  moved(session: Session, old: string): void {
    const identity = session.snapshot.context.identity;
    if (identity !== null && this.byIdentity.get(identity) === old) this.byIdentity.set(identity, session.connId);
  }
}

const isNewer = (a: Session, b: Session): boolean => {
  const x = a.snapshot.context;
  const y = b.snapshot.context;
  return x.openedAt !== y.openedAt ? x.openedAt > y.openedAt : x.sessionId > y.sessionId;
};
