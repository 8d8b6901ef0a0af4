import { hasJobs } from './delivery';
import { deadlineOf, type Session } from './session';
import type { HubHost, Turn } from './turn';

/**
 * The one alarm. Every deadline (a session's, the registry's next expiry,
 * queued fan-out) lives in data; this decides when the alarm must fire.
 */
export class AlarmSchedule {
  /** The alarm we last asked for; undefined after a wake or a tick, when it is unknown. */
  private armedAt: number | null | undefined = undefined;

  constructor(
    private readonly host: HubHost,
    private readonly sessions: ReadonlyMap<string, Session>,
    /** Deadlines of the core's own (the seen-set's next flush). */
    private readonly own: () => number | null = () => null,
  ) {}

  /** The alarm fired: whatever it was armed for is gone, so the next finish recomputes in full. */
  forget(): void {
    this.armedAt = undefined;
  }

  /** Earliest deadline over every session and the registry's next expiry; now while fan-out is queued. */
  earliest(now: number): number | null {
    let earliest = this.host.registry.nextExpiry();
    if (hasJobs(this.host.kv)) earliest = earliest === null ? now : Math.min(earliest, now);
    for (const session of this.sessions.values()) earliest = earlier(earliest, deadlineOf(session));
    return earlier(earliest, this.own());
  }

  /** Whether arm(turn, lowest) would leave the alarm as it is (refusal-lane.ts). */
  covers(lowest: number | null): boolean {
    return this.armedAt !== undefined && (lowest === null || (this.armedAt !== null && lowest >= this.armedAt));
  }

  /**
   * Arms the alarm for a turn whose changes need it at `lowest` or earlier.
   * Deadlines only ever need the alarm earlier; a later one is found when the
   * current alarm fires early and recomputes. After a wake the armed time is
   * unknown, so the first event recomputes it in full.
   */
  arm(turn: Turn, lowest: number | null): void {
    if (this.armedAt === undefined) {
      const next = this.earliest(turn.now);
      this.armedAt = next;
      turn.effects.push({ kind: 'alarm', at: next });
    } else if (lowest !== null && (this.armedAt === null || lowest < this.armedAt)) {
      this.armedAt = lowest;
      turn.effects.push({ kind: 'alarm', at: lowest });
    }
  }
}

export const earlier = (a: number | null, b: number | null): number | null => (b !== null && (a === null || b < a) ? b : a);
