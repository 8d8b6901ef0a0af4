/** Every scenario by name; `run.ts` runs them in the order of SCENARIOS. */
import type { ScenarioName } from '../options';
import type { Scenario } from '../targets';
import { ask } from './ask';
import { connect } from './connect';
import { fairness } from './fairness';
import { fanout } from './fanout';
import { framecost } from './framecost';
import { memory } from './memory';
import { refusal } from './refusal';
import { resume } from './resume';
import { storm } from './storm';
import { tell } from './tell';

export const SCENARIO_RUNS: Record<ScenarioName, Scenario> = {
  memory,
  broadcast: fanout,
  publish: fanout,
  connect,
  storm,
  tell,
  ask,
  fairness,
  refusal,
  resume,
  framecost,
};

/** Scenarios that also need the hub with its shipped limits (a third `wrangler dev`). */
export const NEED_SHIPPED: readonly ScenarioName[] = ['fairness', 'refusal'];

/** Scenarios that also need the hub with resume off (RESUME_GRACE_MS=0, a fourth `wrangler dev`). */
export const NEED_RESUME_OFF: readonly ScenarioName[] = ['resume'];
