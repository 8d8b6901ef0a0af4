import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createActor } from 'xstate';
import { describe, expect, it } from 'vitest';
import { sessionMachine } from '../../machines/session';
import { exportFiles, implementationNames, loadMachines } from '../../scripts/export-machines';

/**
 * `npm run machines:export`: the files checked into machines/export/ are what
 * the machines export to now, and the simulable form runs under plain xstate.
 */

const EXPORT_DIR = resolve(import.meta.dirname, '../../machines/export');

describe('machines:export', () => {
  it('the checked-in export is up to date (run npm run machines:export after changing a machine)', async () => {
    const files = exportFiles(await loadMachines());
    expect([...files.keys()]).toEqual(expect.arrayContaining(['session.json', 'session.simulable.mjs', 'session.mermaid.md']));
    for (const [name, content] of files) expect(readFileSync(join(EXPORT_DIR, name), 'utf8'), name).toBe(content);
  });

  it('stubs exactly the guards and actions the session machine implements', () => {
    const names = implementationNames(sessionMachine.config);
    const impl = sessionMachine.implementations;
    expect(names.guards).toEqual(Object.keys(impl.guards).sort());
    // Every action the config names is implemented; unused implementations are not stubbed.
    for (const action of names.actions) expect(Object.keys(impl.actions)).toContain(action);
  });

  it('the simulable session machine can be stepped from connect to closed with guards chosen by the caller', async () => {
    const mod = (await import(pathToFileURL(join(EXPORT_DIR, 'session.simulable.mjs')).href)) as {
      createSimulableMachine: (o: { guards?: Record<string, boolean>; calls?: string[] }) => Parameters<typeof createActor>[0];
    };
    const calls: string[] = [];
    const actor = createActor(mod.createSimulableMachine({ guards: { heartbeatTimedOut: true }, calls })).start();
    const value = () => actor.getSnapshot().value as string;
    expect(value()).toBe('connecting');
    actor.send({ type: 'FRAME', now: 1, request: 'hub:connect', id: 'c1' });
    expect(value()).toBe('connecting');
    actor.send({ type: 'CONNECT_ACCEPTED', now: 2, identity: '@(a)', capabilities: [] });
    expect(value()).toBe('registered');
    actor.send({ type: 'TICK', now: 3, pingAt: null });
    expect(value()).toBe('closing');
    expect(calls).toContain('markClosing');
    actor.send({ type: 'SOCKET_CLOSED', now: 4, code: 4408 });
    expect(value()).toBe('closed');
    expect(actor.getSnapshot().status).toBe('done');
  });

  it('the Mermaid diagram has every state and the way out of closing', async () => {
    const diagram = exportFiles(await loadMachines()).get('session.mermaid.md')!;
    expect(diagram).toContain('```mermaid\nstateDiagram-v2');
    for (const state of Object.keys(sessionMachine.config.states!)) expect(diagram).toContain(state);
    expect(diagram).toContain('closing --> closed: SOCKET_CLOSED, TICK [closeGraceOver]');
  });
});
