import { describe, expect, it } from 'vitest';
import { LOG_LEVELS } from '../../src/config';
import type { LogEntry } from '../../src/core/log';
import { configWith } from '../../harness/fake-object';
import { Scenario } from './core-harness';

/** Structured logging (§9). */

const wellFormed = (entry: LogEntry): void => {
  expect(typeof entry.event).toBe('string');
  expect(entry.event.length).toBeGreaterThan(0);
  expect(LOG_LEVELS).toContain(entry.level);
  // One JSON object per line: the entry must serialise without loss.
  expect(JSON.parse(JSON.stringify(entry))).toEqual(JSON.parse(JSON.stringify(entry)));
  expect(JSON.stringify(entry)).not.toContain('\n');
};

const since = (sc: Scenario, mark: number): LogEntry[] => sc.fake.logs.slice(mark);

describe('logging (§9)', () => {
  it('at info, routine requests log nothing per message', () => {
    const sc = new Scenario('awake', configWith({ logLevel: 'info' }));
    const a = sc.connect('@(a)');
    const mark = sc.fake.logs.length;
    a.ask('hub:register', { actorAddress: '@(a)', capabilities: ['x'] });
    a.ask('hub:discover', { pattern: '*' });
    a.ask('hub:list_actors', {});
    a.ask('hub:heartbeat', { timestamp: 1 });
    a.ask('hub:unregister', { actorAddress: '@(a)' });
    expect(since(sc, mark)).toEqual([]);
  });

  it('at info, a connect is logged with sessionId and traceId taken from metadata.traceId', () => {
    const sc = new Scenario('awake', configWith({ logLevel: 'info' }));
    const a = sc.connect('@(a)', { traceId: 'trace-connect-1' });
    const entries = sc.fake.logs.filter((e) => e.event === 'session.connected');
    expect(entries).toHaveLength(1);
    const entry = entries[0]!;
    wellFormed(entry);
    expect(entry.level).toBe('info');
    expect(entry.sessionId).toBe(a.connected!.payload.sessionId);
    expect(entry.traceId).toBe('trace-connect-1');
  });

  it('without metadata.traceId the traceId is the message id', () => {
    const sc = new Scenario('awake', configWith({ logLevel: 'debug' }));
    const a = sc.connect('@(a)');
    const mark = sc.fake.logs.length;
    const id = a.request('hub:register', { actorAddress: '@(a)', capabilities: [] });
    a.inbox();
    const entries = since(sc, mark).filter((e) => e.traceId !== undefined);
    expect(entries.length).toBeGreaterThan(0);
    for (const e of entries) {
      wellFormed(e);
      expect(e.traceId).toBe(id);
      expect(e.sessionId).toBe(a.connected!.payload.sessionId);
    }
  });

  it('at debug, every entry about a traced request carries its metadata.traceId, refusals included', () => {
    const sc = new Scenario('awake', configWith({ logLevel: 'debug' }));
    const a = sc.connect('@(a)');
    const b = sc.connect('@(b)');
    b.ask('hub:register', { actorAddress: '@(b/svc)', capabilities: [] });
    const mark = sc.fake.logs.length;
    a.ask('hub:register', { actorAddress: '@(a)', capabilities: [] }, { metadata: { traceId: 'trace-ok' } });
    a.ask('hub:unregister', { actorAddress: '@(b/svc)' }, { metadata: { traceId: 'trace-refused' } });
    const entries = since(sc, mark);
    const traced = entries.filter((e) => e.traceId !== undefined);
    expect(traced.some((e) => e.traceId === 'trace-ok')).toBe(true);
    expect(traced.some((e) => e.traceId === 'trace-refused')).toBe(true);
    for (const e of traced) {
      wellFormed(e);
      expect(['trace-ok', 'trace-refused']).toContain(e.traceId);
      expect(e.sessionId).toBe(a.connected!.payload.sessionId);
    }
  });

  it('session lifecycle entries carry the sessionId and are well formed', () => {
    const sc = new Scenario('awake', configWith({ logLevel: 'debug' }));
    const a = sc.connect('@(a)');
    a.ask('hub:disconnect', null);
    sc.completeCloses();
    const sessionId = a.connected!.payload.sessionId;
    for (const event of ['session.connected', 'session.closing', 'session.closed']) {
      const entry = sc.fake.logs.find((e) => e.event === event);
      expect(entry, event).toBeDefined();
      expect(entry!.sessionId).toBe(sessionId);
    }
    for (const e of sc.fake.logs) wellFormed(e);
  });

  it('LOG_LEVEL filters by severity', () => {
    const run = (level: 'debug' | 'info' | 'warn' | 'error') => {
      const sc = new Scenario('awake', configWith({ logLevel: level }));
      const a = sc.connect('@(a)');
      a.ask('hub:register', { actorAddress: '@(a)', capabilities: [] });
      a.raw('garbage');
      a.ask('hub:disconnect', null);
      sc.completeCloses();
      return sc.fake.logs;
    };
    const rank = { debug: 0, info: 1, warn: 2, error: 3 } as const;
    const all = run('debug');
    expect(all.some((e) => e.level === 'debug')).toBe(true);
    for (const level of ['info', 'warn', 'error'] as const) {
      const logs = run(level);
      for (const e of logs) expect(rank[e.level]).toBeGreaterThanOrEqual(rank[level]);
      expect(logs).toEqual(all.filter((e) => rank[e.level] >= rank[level]));
    }
  });

  it('abuse is logged as a warning with the sessionId', () => {
    const sc = new Scenario('awake', configWith({ logLevel: 'warn', rateLimitPerSecond: 1, rateLimitBurst: 1 }));
    const a = sc.connect('@(a)');
    for (let i = 0; i < 12 * 20 && !a.socket.closed; i++) {
      a.request('hub:list_actors', {});
      sc.advance(50);
      if (i % 20 === 19 && !a.socket.closed) a.heartbeatOk();
    }
    expect(a.socket.closed?.code).toBe(1008);
    const entry = sc.fake.logs.find((e) => e.level === 'warn');
    expect(entry).toBeDefined();
    expect(entry!.sessionId).toBe(a.connected!.payload.sessionId);
  });
});
