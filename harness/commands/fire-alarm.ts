import fc from 'fast-check';
import type { HubModel } from '../model';
import type { FuzzHub } from '../system';
import { HubCommand } from './common';

/** The alarm fires now, due or not: alarms may come early or twice, and the hub must not care. */
export class FireAlarm extends HubCommand {
  check(m: Readonly<HubModel>): boolean {
    return m.profile.time;
  }

  async run(m: HubModel, r: FuzzHub): Promise<void> {
    await r.step(m, { op: 'alarm' });
  }

  toString(): string {
    return 'alarm()';
  }
}

export const fireAlarmArb = fc.constant(null).map(() => new FireAlarm());
