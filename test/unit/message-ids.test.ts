import { describe, expect, it } from 'vitest';
import { randomIds } from '../../src/runtime/console-log';

/** Message ids of the real hub (src/runtime/console-log.ts): UUID-shaped, unique, cheap. */
const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('message ids', () => {
  it('are version-4 UUIDs in form and never repeat', () => {
    // One expect per id made this take 8 s on a loaded CI machine, past the unit timeout; the
    // ids that do not match are collected and asserted once instead.
    const seen = new Set<string>();
    const malformed: string[] = [];
    for (let i = 0; i < 100_000; i++) {
      const id = randomIds.messageId();
      if (!UUID_V4.test(id)) malformed.push(id);
      seen.add(id);
    }
    expect(malformed).toEqual([]);
    expect(seen.size).toBe(100_000);
  });

  it('count within a run, and session-like ids stay fully random', () => {
    const a = randomIds.messageId();
    const b = randomIds.messageId();
    expect(b.slice(0, 24)).toBe(a.slice(0, 24));
    expect(parseInt(b.slice(24), 16)).toBe(parseInt(a.slice(24), 16) + 1);
    const s1 = randomIds.id();
    const s2 = randomIds.id();
    expect(UUID_V4.test(s1)).toBe(true);
    expect(s1.slice(0, 24)).not.toBe(s2.slice(0, 24));
  });
});
