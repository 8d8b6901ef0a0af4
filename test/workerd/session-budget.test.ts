import { describe, expect, it } from 'vitest';
import { MAX_SESSION_CAPABILITIES, MAX_SESSION_CAPABILITY_CHARS } from '../../src/protocol/limits';
import { WorkerdClient, MODES, expectError, freshHub, hibernate, hibernateIfAwake, persistedStates } from './hub-client';

/**
 * Issue 12, defect 2, in the real runtime: serializeAttachment throws above
 * 16 KiB, so a session acknowledged with more state than that was unknown
 * after the next hibernation (not_connected, then connect_timeout). The
 * largest admissible session must survive forced hibernation; anything
 * larger is refused before hub:connected.
 */

const widest = (): string[] =>
  Array.from({ length: MAX_SESSION_CAPABILITIES }, (_, i) => `${i}`.padEnd(MAX_SESSION_CAPABILITY_CHARS / MAX_SESSION_CAPABILITIES, '☃'));

describe.each(MODES)('session state always fits its attachment, $mode (issue 12 §2)', ({ between }) => {
  it('the largest capability set is accepted and the session survives hibernation', async () => {
    const hub = freshHub('budget');
    const client = await WorkerdClient.open(hub, `@(${'☃'.repeat(256)})`);
    await client.connect({ capabilities: widest() });
    await between(hub);
    await hibernateIfAwake(hub);
    await client.expectAlive();
    expect(await persistedStates(hub)).toEqual(['registered']);
    const reg = await client.ask('hub:register', { actorAddress: client.identity, capabilities: [] });
    expect(reg.type).toBe('hub:registered');
  });

  it('the report (64 capabilities of 256 characters) is refused, never acknowledged, and the socket can still connect', async () => {
    const hub = freshHub('budgetover');
    const client = await WorkerdClient.open(hub, '@(budget/over)');
    const capabilities = Array.from({ length: 64 }, (_, i) => `${i}`.padEnd(256, 'c'));
    const id = client.request('hub:connect', null, { metadata: { protocolVersion: '0.1.0', capabilities } });
    const p = expectError(await client.reply(id), 'hub:error', 'invalid_message', id);
    expect(p.details.issues[0].path).toMatch(/^metadata\.capabilities/);
    await between(hub);
    expect(await persistedStates(hub)).toEqual(['connecting']);
    await client.connect({ capabilities: ['chat'] });
    await hibernate(hub);
    await client.expectAlive();
  });

  it('one character over the total is refused', async () => {
    const hub = freshHub('budgetone');
    const client = await WorkerdClient.open(hub, '@(budget/one)');
    const capabilities = [...widest().slice(1), `${'x'.repeat(MAX_SESSION_CAPABILITY_CHARS / MAX_SESSION_CAPABILITIES)}y`];
    const id = client.request('hub:connect', null, { metadata: { protocolVersion: '0.1.0', capabilities } });
    expectError(await client.reply(id), 'hub:error', 'invalid_message', id);
    await between(hub);
    await client.connect();
    await client.expectAlive();
  });
});
