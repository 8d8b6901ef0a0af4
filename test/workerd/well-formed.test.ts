import { describe, expect, it } from 'vitest';
import { WorkerdClient, MODES, expectError, freshHub, type Frame } from './hub-client';

/**
 * Issue 12, defect 1, against the real Durable Object: a JSON text escape
 * "\ud800" parses to a lone surrogate. Every such string is refused with
 * invalid_message at its path, nothing is stored or forwarded, and the
 * connection keeps working.
 */

/** JSON.stringify writes a lone surrogate as the escape "\ud800", the form a hostile client sends. */
const sendEscaped = (client: WorkerdClient, frame: Frame): void => {
  const text = JSON.stringify(frame);
  expect(text).toMatch(/\\ud[89a-f]/);
  client.sendRaw(text);
};

const expectRefusedAt = (reply: Frame, id: string, path: string): void => {
  const p = expectError(reply, 'hub:error', 'invalid_message', id);
  expect(p.details.issues.map((i: { path: string }) => i.path)).toContain(path);
};

/** Every frame the client got holds only well-formed strings, so its UTF-8 on the wire was valid. */
const expectAllWellFormed = (client: WorkerdClient): void => {
  for (const e of client.events) {
    if (e.kind === 'frame') expect(JSON.stringify(e.frame)).not.toMatch(/\\ud[89a-f]/);
  }
};

describe.each(MODES)('lone surrogates are refused, $mode (issue 12 §1)', ({ between }) => {
  it('in register, discover, send, publish and metadata; nothing is stored or delivered', async () => {
    const hub = freshHub('wf');
    const alice = await WorkerdClient.connected(hub, '@(wf/alice)');
    const bob = await WorkerdClient.connected(hub, '@(wf/bob)');
    await bob.ask('hub:register', { actorAddress: '@(wf/bob)', capabilities: [] });
    await bob.ask('hub:subscribe', { topic: 'wf.t' });
    await between(hub);

    const cases: [Frame, string][] = [
      [alice.build('hub:register', { actorAddress: '@(wf/x\ud800)', capabilities: [] }), 'payload.actorAddress'],
      [alice.build('hub:register', { actorAddress: '@(wf/y)', capabilities: ['c\udc00'] }), 'payload.capabilities.0'],
      [alice.build('hub:register', { actorAddress: '@(wf/z)', capabilities: [], metadata: { ['k\ud800']: 1 } }), 'payload.metadata.k\ufffd'],
      [alice.build('hub:discover', { pattern: 'wf/\ud800*' }), 'payload.pattern'],
      [alice.build('hub:send', { to: '@(wf/bob)', type: 'm', data: { text: 'a\ud800b' } }), 'payload.data.text'],
      [alice.build('hub:send', { to: '@(wf/bob)', type: 'm', data: 1 }, { metadata: { note: '\udfff' } }), 'metadata.note'],
      [alice.build('hub:publish', { topic: 'wf.t', type: 'm\ud800', data: null }), 'payload.type'],
    ];
    for (const [frame, path] of cases) {
      sendEscaped(alice, frame);
      expectRefusedAt(await alice.reply(frame.id), frame.id, path);
      await between(hub);
    }
    const found = await alice.ask('hub:discover', { pattern: 'wf/*' });
    expect(found.payload.actors.map((a: Frame) => a.address)).toEqual(['@(wf/bob)']);
    await bob.expectAlive();
    expect(bob.frames.filter((f) => f.metadata?.forwarded === true)).toEqual([]);
    await alice.expectAlive();
    expectAllWellFormed(alice);
    expectAllWellFormed(bob);
  });

  it('a connect from an ill-formed address is refused and the socket can still connect', async () => {
    const hub = freshHub('wfconn');
    const client = await WorkerdClient.open(hub, '@(wf/\ud800)');
    const frame = client.build('hub:connect', null, { metadata: { protocolVersion: '0.1.0' } });
    sendEscaped(client, frame);
    expectRefusedAt(await client.reply(frame.id), frame.id, 'from');
    await between(hub);
    client.identity = '@(wf/fine)';
    await client.connect();
    await client.expectAlive();
    expectAllWellFormed(client);
  });

  it('an ill-formed id is not echoed as the correlationId', async () => {
    const hub = freshHub('wfid');
    const client = await WorkerdClient.connected(hub, '@(wf/id)');
    await between(hub);
    sendEscaped(client, { ...client.build('hub:heartbeat', null), id: 'bad-\ud800' });
    const reply = await client.next((f) => f.type === 'hub:error');
    expectError(reply, 'hub:error', 'invalid_message', null);
    await client.expectAlive();
    expectAllWellFormed(client);
  });
});
