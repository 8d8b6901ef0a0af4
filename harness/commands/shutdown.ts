import fc from 'fast-check';
import { violate } from '../invariants';
import type { HubModel } from '../model';
import type { FuzzHub } from '../system';
import { HubCommand } from './common';

/** Server shutdown: every session is told (server_shutdown) and closed with 1001. */
export class Shutdown extends HubCommand {
  check(m: Readonly<HubModel>): boolean {
    return m.profile.shutdown;
  }

  async run(m: HubModel, r: FuzzHub): Promise<void> {
    const open = m.slots.filter((c) => c && (c.phase === 'connecting' || c.phase === 'live')).map((c) => c!.socket);
    const res = await r.step(m, { op: 'shutdown' });
    for (const socket of open) {
      if (res.report.outputs.closes?.[socket]?.code !== 1001) violate('shutdown', `${socket} was not closed with 1001`);
      const notice = res.frames.find((f) => f.socket === socket && f.frame.type === 'hub:disconnect');
      if (notice?.frame.payload?.reason !== 'server_shutdown') violate('shutdown', `${socket} was not told about the shutdown`);
    }
  }

  toString(): string {
    return 'shutdown()';
  }
}

export const shutdownArb = fc.constant(null).map(() => new Shutdown());
