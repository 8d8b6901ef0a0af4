import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { compareTranscripts, transcriptOf } from '../../harness/differential';
import { commandsArb, FuzzFailure, runScenario, setupArb, traceReporter } from '../../harness/fuzz';
import { FULL_PROFILE } from '../../harness/model';
import { firstDifference, runTrace } from '../../harness/runner';
import { PING_FRAME } from '../../src/protocol/ping';
import { parseTrace, TraceError, withRecordedOutputs, type TraceInput } from '../../harness/trace';
import { buildRequest } from '../../src/protocol/build';

const connect = (id: string, from: string, at = 1_700_000_000_000) =>
  JSON.stringify(buildRequest('hub:connect', null, { id, from, timestamp: at, metadata: { protocolVersion: '0.1.0' } }));
const register = (id: string, from: string, address: string, at = 1_700_000_000_000) =>
  JSON.stringify(buildRequest('hub:register', { actorAddress: address, capabilities: [] }, { id, from, timestamp: at }));
const send = (id: string, from: string, to: string, at = 1_700_000_000_000) =>
  JSON.stringify(buildRequest('hub:send', { to, type: 'note', data: { id } }, { id, from, timestamp: at }));

/** Two clients, a registration, a delivery across an eviction, a ping, a binary frame and a client close. */
const sample: TraceInput = {
  version: 1,
  config: { heartbeatTimeoutMs: 60_000 },
  steps: [
    { op: 'open', socket: 'a' },
    { op: 'frame', socket: 'a', text: connect('c1', '@(a)') },
    { op: 'open', socket: 'b' },
    { op: 'frame', socket: 'b', text: connect('c2', '@(b)') },
    { op: 'frame', socket: 'b', text: register('r1', '@(b)', '@(b/inbox)') },
    { op: 'hibernate' },
    { op: 'frame', socket: 'a', text: send('s1', '@(a)', '@(b/inbox)') },
    { op: 'frame', socket: 'a', text: PING_FRAME },
    { op: 'binary', socket: 'a', base64: btoa('{"not json') },
    { op: 'close', socket: 'b', code: 4000 },
    { op: 'frame', socket: 'a', text: send('s2', '@(a)', '@(b/inbox)') },
    { op: 'advance', ms: 61_000 },
  ],
};

describe('trace format', () => {
  it('parses a trace and fills in the defaults', () => {
    const trace = parseTrace(JSON.stringify(sample));
    expect(trace).toMatchObject({ version: 1, seed: 1, confirmCloses: true, startTime: 1_700_000_000_000 });
    expect(trace.steps).toHaveLength(sample.steps.length);
  });

  it.each([
    ['a newer version', { ...sample, version: 2 }, 'version'],
    ['an unknown step', { ...sample, steps: [{ op: 'teleport' }] }, 'steps.0.op'],
    ['a bad socket name', { ...sample, steps: [{ op: 'open', socket: 'a b' }] }, 'steps.0.socket'],
    ['a negative clock step', { ...sample, steps: [{ op: 'advance', ms: -1 }] }, 'steps.0.ms'],
    ['an unknown config key', { ...sample, config: { nope: 1 } }, 'config'],
    ['a config value of the wrong kind', { ...sample, config: { rateLimitBurst: 'many' } }, 'config.rateLimitBurst'],
    ['invalid base64', { ...sample, steps: [{ op: 'binary', socket: 'a', base64: '***' }] }, 'steps.0.base64'],
    ['an unknown output field', { ...sample, steps: [{ op: 'alarm', outputs: { logs: [] } }] }, 'steps.0.outputs'],
  ])('refuses %s, naming the path', (_what, value, path) => {
    expect(() => parseTrace(value)).toThrow(TraceError);
    expect(() => parseTrace(value)).toThrow(path);
  });

  it('refuses text that is not JSON', () => {
    expect(() => parseTrace('{"version":')).toThrow(/not JSON/);
  });
});

describe('trace runner', () => {
  it('gives byte-identical outputs for the same trace, awake or evicted before every step', async () => {
    const trace = parseTrace(sample);
    const first = await runTrace(trace);
    const again = await runTrace(trace);
    const sleepy = await runTrace(trace, { hibernateBetweenSteps: true });
    const noEviction = await runTrace(trace, { skipHibernateSteps: true });
    expect(JSON.stringify(again.outputs)).toBe(JSON.stringify(first.outputs));
    expect(firstDifference(trace, first.outputs, sleepy.outputs)).toBeNull();
    expect(firstDifference(trace, first.outputs, noEviction.outputs)).toBeNull();
  });

  it('records what each step produced', async () => {
    const { outputs, runner } = await runTrace(parseTrace(sample));
    const parsed = (i: number, socket: string) => (outputs[i]!.frames?.[socket] ?? []).map((f) => JSON.parse(f) as Record<string, any>);
    expect(parsed(1, 'a')[0]).toMatchObject({ type: 'hub:connected', correlationId: 'c1' });
    // The delivery crossed the eviction, then the ack followed it.
    expect(parsed(6, 'b')[0]).toMatchObject({ type: 'note', from: '@(a)', to: '@(b/inbox)', correlationId: null });
    expect(parsed(6, 'a')[0]).toMatchObject({ type: 'hub:delivery_ack', correlationId: 's1' });
    // The ping was answered by the runtime, and only that.
    expect(outputs[7]!.frames).toEqual({ a: ['{"type":"pong"}'] });
    expect(parsed(8, 'a')[0]).toMatchObject({ type: 'hub:error', payload: { code: 'invalid_message' } });
    // After b closed, its address is released: the second send is unknown.
    expect(outputs[9]).toEqual({});
    expect(parsed(10, 'a')[0]).toMatchObject({ type: 'hub:unknown_actor', correlationId: 's2' });
    // The heartbeat timeout closes a, with the notice first.
    expect(parsed(11, 'a')[0]).toMatchObject({ type: 'hub:disconnect', payload: { reason: 'heartbeat_timeout' } });
    expect(outputs[11]!.closes).toEqual({ a: { code: 4408, reason: 'heartbeat_timeout' } });
    expect(runner.socket('a')!.closed).toMatchObject({ by: 'hub', code: 4408 });
  });

  it('does not wake the hub for a ping', async () => {
    const trace = parseTrace({ ...sample, steps: [...sample.steps.slice(0, 2), { op: 'hibernate' }, { op: 'frame', socket: 'a', text: PING_FRAME }] });
    const { runner } = await runTrace(trace);
    expect(runner.fake.awake).toBe(false);
    expect(runner.socket('a')!.pingAt).toBe(trace.startTime);
  });

  it('lets an alarm run late and fires it at the next clock step', async () => {
    const steps: TraceInput['steps'] = [
      { op: 'open', socket: 'a' },
      { op: 'advance', ms: 20_000, lateAlarm: true },
    ];
    const late = await runTrace(parseTrace({ version: 1, steps }));
    expect(late.outputs[1]).toEqual({});
    const onTime = await runTrace(parseTrace({ version: 1, steps: [...steps, { op: 'advance', ms: 0 }] }));
    expect(onTime.outputs[2]!.closes).toEqual({ a: { code: 4408, reason: 'connect_timeout' } });
  });

  it('keeps a hub close unconfirmed until the client answers it, when the trace says so', async () => {
    const steps: TraceInput['steps'] = [
      { op: 'open', socket: 'a' },
      { op: 'frame', socket: 'a', text: connect('c1', '@(a)') },
      { op: 'frame', socket: 'a', text: JSON.stringify(buildRequest('hub:disconnect', null, { id: 'd1', from: '@(a)', timestamp: 1_700_000_000_000 })) },
    ];
    const unconfirmed = await runTrace(parseTrace({ version: 1, confirmCloses: false, steps }));
    expect(unconfirmed.runner.awaitingConfirmation()).toEqual(['a']);
    expect((unconfirmed.runner.socket('a')!.attachment as { machine: { value: string } }).machine.value).toBe('closing');
    const confirmed = await runTrace(parseTrace({ version: 1, confirmCloses: false, steps: [...steps, { op: 'close', socket: 'a', code: 1000 }] }));
    expect(confirmed.runner.awaitingConfirmation()).toEqual([]);
    expect((confirmed.runner.socket('a')!.attachment as { machine: { value: string } }).machine.value).toBe('closed');
  });

  it('refuses steps the runtime cannot take', async () => {
    await expect(runTrace(parseTrace({ version: 1, steps: [{ op: 'frame', socket: 'x', text: '{}' }] }))).rejects.toThrow(TraceError);
    await expect(
      runTrace(parseTrace({ version: 1, steps: [{ op: 'open', socket: 'a' }, { op: 'close', socket: 'a', code: 1000 }, { op: 'frame', socket: 'a', text: '{}' }] })),
    ).rejects.toThrow(/closed/);
    await expect(runTrace(parseTrace({ version: 1, steps: [{ op: 'open', socket: 'a' }, { op: 'open', socket: 'a' }] }))).rejects.toThrow(/opened before/);
  });

  it('reports the first step whose outputs differ from the recorded ones', async () => {
    const trace = parseTrace(sample);
    const { outputs } = await runTrace(trace);
    const recorded = withRecordedOutputs(trace, outputs);
    const tampered = structuredClone(recorded);
    tampered.steps[6]!.outputs!.frames!.b![0] = tampered.steps[6]!.outputs!.frames!.b![0]!.replace('"note"', '"other"');
    const replayed = await runTrace(tampered);
    expect(firstDifference(tampered, tampered.steps.map((s) => s.outputs), replayed.outputs)).toMatch(/^step 6 /);
    expect(firstDifference(recorded, recorded.steps.map((s) => s.outputs), replayed.outputs)).toBeNull();
  });
});

describe('differential normalisation', () => {
  it('ignores generated ids and clock readings but nothing else', async () => {
    const trace = parseTrace(sample);
    const { outputs } = await runTrace(trace);
    const core = transcriptOf(trace, outputs);
    const other = structuredClone(core);
    // Another hub: different ids (consistently), different times.
    const rename = (v: unknown): unknown => (typeof v === 'string' ? v.replace(/id-1-(\d+)/g, 'uuid-$1').replace(/tok-1-/g, 'secret-') : v);
    for (const s of Object.values(other)) {
      s.frames = s.frames.map((f) => {
        const frame = JSON.parse(JSON.stringify(f, (_k, v: unknown) => rename(v))) as Record<string, any>;
        if (typeof frame.timestamp === 'number') frame.timestamp += 12_345;
        return frame;
      });
    }
    expect(compareTranscripts(core, other)).toBeNull();

    const payload = structuredClone(other);
    (payload.b!.frames[0] as Record<string, any>).payload = { sessionId: 'x' };
    expect(compareTranscripts(core, payload)).toMatch(/^b frame 0/);
    const missing = structuredClone(other);
    missing.a!.frames.pop();
    expect(compareTranscripts(core, missing)).toMatch(/^a frame/);
    const code = structuredClone(other);
    code.a!.close = { code: 1000, reason: 'heartbeat_timeout' };
    expect(compareTranscripts(core, code)).toMatch(/^a close/);
  });
});

describe('failure reporting', () => {
  it('prints seed, path and the shrunk trace, and writes the trace for npm run replay', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fuzz-report-'));
    process.env.FUZZ_FAILURE_DIR = dir;
    // The reporter prints the trace for a human; keep the test output readable.
    const quiet = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      const property = fc.asyncProperty(setupArb(FULL_PROFILE), commandsArb(30), async (setup, cmds) => {
        const hub = await runScenario(setup, cmds, { equivalence: false });
        // A planted "invariant" that fails once any client sends hub:register: the reporter must shrink and print it.
        if (hub.steps.some((s) => s.op === 'frame' && s.text.includes('"hub:register"'))) {
          throw new FuzzFailure(new Error('planted failure'), hub.trace());
        }
      });
      let message = '';
      await fc.assert(property, { seed: 7, numRuns: 200, asyncReporter: traceReporter('planted') }).catch((err: Error) => {
        message = err.message;
      });
      expect(message).toContain('violation: planted failure');
      expect(message).toMatch(/reproduce: FC_SEED=7 FC_PATH=\d/);
      const file = join(dir, 'trace-seed7.json');
      expect(message).toContain(`npm run replay -- ${file}`);
      const written = parseTrace(readFileSync(file, 'utf8'));
      expect(written.steps.some((s) => s.op === 'frame' && s.text.includes('"hub:register"'))).toBe(true);
      expect(message).toContain('"version": 1');
      expect(quiet).toHaveBeenCalledWith(message);
    } finally {
      quiet.mockRestore();
      delete process.env.FUZZ_FAILURE_DIR;
    }
  });
});
