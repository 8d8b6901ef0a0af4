import { describe, expect, it } from 'vitest';
import { WorkerdClient, freshHub, hibernate } from './hub-client';

describe('smoke', () => {
  it('connects, registers, survives hibernation, lists', async () => {
    const hub = freshHub('smoke');
    const a = await WorkerdClient.connected(hub, '@(a/1)');
    const reg = await a.ask('hub:register', { actorAddress: '@(a/1)', capabilities: ['x'] });
    expect(reg.type).toBe('hub:registered');
    await hibernate(hub);
    const list = await a.ask('hub:list_actors', {});
    expect(list.payload.total).toBe(1);
  });
});
