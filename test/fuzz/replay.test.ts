import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { savedTraces } from '../../harness/regression';
import { inspectTransitions, replay, verdictLine } from '../../harness/replay';
import { formatTrace, parseTrace } from '../../harness/trace';

const saved = savedTraces();
const pick = (prefix: string) => saved.find((t) => t.file.startsWith(prefix))!;

describe('replay', () => {
  it('prints every step with its outputs and the machine steps it caused', async () => {
    const { trace } = pick('cover-rate-limited-tick-0');
    const result = await replay(trace);
    expect(result.mismatch).toBeNull();
    for (let i = 0; i < trace.steps.length; i++) expect(result.lines.some((l) => l.startsWith(`#${i} `))).toBe(true);
    expect(result.lines).toContain('    s1 closed by the hub: 4408 heartbeat_timeout');
    expect(result.lines).toContain('    [s2] rate-limited --TICK--> closing');
  });

  it('reports a difference from the recorded outputs', async () => {
    const { trace } = pick('bug-processing-rate-after-wake');
    const tampered = structuredClone(trace);
    const step = tampered.steps.find((s) => s.outputs?.frames)!;
    const [socket, frames] = Object.entries(step.outputs!.frames!)[0]!;
    step.outputs!.frames![socket] = [...frames, '{"type":"invented"}'];
    const result = await replay(tampered);
    expect(result.mismatch).toMatch(/differs/);
    expect(verdictLine(result)).toBe(`verdict: outputs differ from the recorded trace; first difference: ${result.mismatch!.split('\n')[0]}`);
  });

  it('ends with a verdict: match, or nothing recorded to compare with', async () => {
    const { trace } = pick('bug-processing-rate-after-wake');
    expect(verdictLine(await replay(trace))).toBe(`verdict: outputs match the recorded trace (${trace.steps.length} steps)`);
    const bare = { ...trace, steps: trace.steps.map(({ outputs: _o, ...s }) => s) };
    expect(verdictLine(await replay(bare))).toMatch(/^verdict: \d+ steps replayed; the trace has no recorded outputs/);
  });

  it('feeds each session through an xstate actor and emits Stately inspection events that agree with the core', async () => {
    const { trace } = pick('cover-rate-limited-token-expired');
    const result = await replay(trace);
    const lines: string[] = [];
    const { mismatches } = inspectTransitions(result.transitions, (line) => lines.push(line));
    expect(mismatches).toEqual([]);
    const events = lines.map((l) => JSON.parse(l) as { type: string; snapshot?: { value: string }; event?: { type: string } });
    const types = new Set(events.map((e) => e.type));
    expect([...types]).toEqual(expect.arrayContaining(['@xstate.actor', '@xstate.event', '@xstate.snapshot']));
    const values = events.filter((e) => e.type === '@xstate.snapshot').map((e) => e.snapshot!.value);
    expect(values).toEqual(expect.arrayContaining(['registered', 'rate-limited', 'closing', 'closed']));
    expect(events.some((e) => e.type === '@xstate.event' && e.event?.type === 'TOKEN_EXPIRED')).toBe(true);
  });

  it('npm run replay: prints the steps, --inspect adds inspection events, --record writes outputs, a mismatch exits 1', { timeout: 60_000 }, () => {
    const dir = mkdtempSync(join(tmpdir(), 'replay-'));
    const { trace } = pick('bug-unconfirmed-close-counted');
    const bare = join(dir, 'bare.json');
    writeFileSync(bare, formatTrace({ ...trace, steps: trace.steps.map(({ outputs: _o, ...s }) => s) }));
    const run = (...args: string[]) => spawnSync('npx', ['tsx', 'scripts/replay.ts', ...args], { encoding: 'utf8', cwd: process.cwd() });

    const plain = run(bare, '--inspect');
    expect(plain.status).toBe(0);
    expect(plain.stdout).toContain('#0 open s1');
    expect(plain.stdout).toContain('"type":"@xstate.snapshot"');

    expect(run(bare, '--record').status).toBe(0);
    const matching = run(bare);
    expect(matching.status).toBe(0);
    expect(matching.stdout.trim().split('\n').at(-1)).toBe(`verdict: outputs match the recorded trace (${trace.steps.length} steps)`);
    const recorded = parseTrace(readFileSync(bare, 'utf8'));
    expect(recorded.steps.map((s) => s.outputs)).toEqual(trace.steps.map((s) => s.outputs));

    const changed = structuredClone(recorded);
    changed.steps[1]!.outputs = { frames: { s1: ['{"type":"nothing like it"}'] } };
    writeFileSync(bare, formatTrace(changed));
    const mismatch = run(bare);
    expect(mismatch.status).toBe(1);
    expect(mismatch.stderr).toContain('outputs differ from the recorded ones');
    expect(mismatch.stdout.trim().split('\n').at(-1)).toMatch(/^verdict: outputs differ from the recorded trace; first difference: /);
  });
});
