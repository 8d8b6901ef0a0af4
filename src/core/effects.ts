import type { Envelope } from '../protocol/envelope';
import type { LogEntry } from './log';

/**
 * What the hub core asks its host to do. The core never performs I/O itself:
 * the Durable Object shell (and the harness's fake object) performs these in
 * order, so the order here is the order on the wire.
 */
export type Effect =
  | { kind: 'send'; conn: string; frame: string }
  | { kind: 'close'; conn: string; code: number; reason: string }
  /** Store the session's state in its socket attachment (survives hibernation). */
  | { kind: 'persist'; conn: string; attachment: unknown }
  /** Arm the single alarm; `at: null` clears it. */
  | { kind: 'alarm'; at: number | null }
  | { kind: 'log'; entry: LogEntry }
  /**
   * An application message (a type outside `hub:`) from a connected session,
   * for the runtime's onMessage hook; only when the core routes them
   * (`HubCore.appMessages`), otherwise they are refused as unknown_type.
   */
  | { kind: 'app'; conn: string; envelope: Envelope };
