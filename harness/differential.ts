import type { StepOutputs, Trace } from './trace';

/**
 * Comparing the core in the fake object with the real Durable Object: the
 * same trace gives the same frames on every socket and the same closes, once
 * what legitimately differs is normalised. Ids and tokens are random in the
 * Durable Object and seeded in the fake, so each distinct value is replaced
 * by the order in which it first appeared (equal ids stay equal); times are
 * real in workerd, so time fields become a placeholder.
 */

/** Fields that hold ids or tokens the hub generates. */
const ID_KEYS = new Set(['sessionId', 'token', 'renewalToken', 'subscriptionId', 'resumeToken', 'epoch']);
/** Fields that hold clock readings (or rates derived from the clock). */
const TIME_KEYS = new Set(['timestamp', 'expiresAt', 'registeredAt', 'deliveredAt', 'serverTime', 'tokenExpiresAt', 'processingRate']);

export interface SocketTranscript {
  frames: unknown[];
  /** How the hub closed the socket, if it did. */
  close: { code: number; reason: string } | null;
}

export type Transcript = Record<string, SocketTranscript>;

export class Normaliser {
  private readonly ids = new Map<string, string>();

  private id(value: string): string {
    let mapped = this.ids.get(value);
    if (!mapped) {
      mapped = `<id${this.ids.size + 1}>`;
      this.ids.set(value, mapped);
    }
    return mapped;
  }

  value(v: unknown, key: string | null, top: boolean): unknown {
    if (Array.isArray(v)) return v.map((x) => this.value(x, null, false));
    if (v !== null && typeof v === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) out[k] = this.value(x, k, false);
      return out;
    }
    if (key !== null && TIME_KEYS.has(key) && typeof v === 'number') return '<time>';
    if (key !== null && (ID_KEYS.has(key) || (top && key === 'id')) && typeof v === 'string') return this.id(v);
    // Error messages may quote a duration measured on the clock.
    if (key === 'message' && typeof v === 'string') return v.replace(/\d{6,}/g, '<n>');
    return v;
  }

  frame(f: unknown): unknown {
    if (f === null || typeof f !== 'object') return f;
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(f)) out[k] = this.value(x, k, true);
    return out;
  }
}

/** Normalises a transcript, sockets in name order so equal transcripts map ids identically. */
export const normalise = (t: Transcript): Transcript => {
  const n = new Normaliser();
  const out: Transcript = {};
  for (const socket of Object.keys(t).sort()) {
    const s = t[socket]!;
    out[socket] = { frames: s.frames.map((f) => n.frame(f)), close: s.close };
  }
  return out;
};

/** The transcript the fake recorded for a trace: every socket's frames (parsed) and the hub's closes. */
export const transcriptOf = (trace: Trace, outputs: (StepOutputs | undefined)[] = trace.steps.map((s) => s.outputs)): Transcript => {
  const t: Transcript = {};
  for (const step of trace.steps) if (step.op === 'open') t[step.socket] = { frames: [], close: null };
  for (const o of outputs) {
    for (const [socket, frames] of Object.entries(o?.frames ?? {})) t[socket]!.frames.push(...frames.map((f) => JSON.parse(f) as unknown));
    for (const [socket, close] of Object.entries(o?.closes ?? {})) t[socket]!.close = close;
  }
  return t;
};

/** Expected number of frames per socket after each step (how long to wait for the real hub). */
export const expectedCounts = (trace: Trace): Record<string, number>[] => {
  const running: Record<string, number> = {};
  return trace.steps.map((step) => {
    for (const [socket, frames] of Object.entries(step.outputs?.frames ?? {})) running[socket] = (running[socket] ?? 0) + frames.length;
    return { ...running };
  });
};

/** First socket whose normalised transcript differs, described; null when they agree. */
export const compareTranscripts = (expected: Transcript, actual: Transcript): string | null => {
  const a = normalise(expected);
  const b = normalise(actual);
  for (const socket of new Set([...Object.keys(a), ...Object.keys(b)])) {
    const x = a[socket];
    const y = b[socket];
    const len = Math.max(x?.frames.length ?? 0, y?.frames.length ?? 0);
    for (let i = 0; i < len; i++) {
      const fx = JSON.stringify(x?.frames[i]);
      const fy = JSON.stringify(y?.frames[i]);
      if (fx !== fy) return `${socket} frame ${i}:\n  core:    ${fx}\n  workerd: ${fy}`;
    }
    if (JSON.stringify(x?.close) !== JSON.stringify(y?.close)) {
      return `${socket} close:\n  core:    ${JSON.stringify(x?.close)}\n  workerd: ${JSON.stringify(y?.close)}`;
    }
  }
  return null;
};
