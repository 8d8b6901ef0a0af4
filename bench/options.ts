/**
 * What a bench run can be told: the scenarios, their sizes and the hub's
 * [vars]. `cli.ts` parses the command line into these; every scenario reads
 * them.
 */

/**
 * The only [vars] the bench changes. With the shipped 10 frames/s per session
 * a single sender could not produce a measurable stream; everything else
 * (batch size, queue thresholds, timeouts) keeps its shipped value.
 */
export const RAISED_LIMITS = { RATE_LIMIT_PER_SECOND: 1_000_000, RATE_LIMIT_BURST: 1_000_000 } as const;

/** In run order: memory on fresh processes, then fan-out, which can reuse the memory room while it is young. */
export const SCENARIOS = ['memory', 'broadcast', 'publish', 'connect', 'storm', 'tell', 'ask', 'fairness', 'refusal', 'resume', 'framecost'] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

export interface Options {
  smoke: boolean;
  json: boolean;
  save: boolean;
  repeat: number;
  sessions: number;
  concurrency: number;
  pairs: number;
  messages: number;
  asks: number;
  fanout: number[];
  idle: number;
  frames: number;
  floodSeconds: number;
  storm: number;
  /** resume: messages queued for the suspended receiver before it resumes. */
  queued: number;
  /** fairness: the raw object's flood frames do this many JSON.parse rounds of stand-in work (0: none). */
  baselineWork: number;
  /** fairness: with baselineWork, the raw object yields after this many consecutive frames of one socket (0: never). */
  baselineYield: number;
  only: ScenarioName[];
  hubVars: Record<string, string>;
  maxSeconds: number;
}

export const DEFAULTS: Options = {
  smoke: false,
  json: false,
  save: false,
  repeat: 5,
  sessions: 200,
  concurrency: 25,
  pairs: 10,
  messages: 1000,
  asks: 200,
  fanout: [100, 1000],
  idle: 1000,
  frames: 400,
  floodSeconds: 5,
  storm: 200,
  queued: 1000,
  baselineWork: 0,
  baselineYield: 0,
  only: [...SCENARIOS],
  hubVars: {},
  maxSeconds: 900,
};

/**
 * Fan-out runs per side: three times the other scenarios' `repeat` (as many
 * with --smoke). One run takes well under a second, connecting the room is
 * what is expensive, and the time to the last of 1000 deliveries spreads
 * ±30 % between runs on both sides (bench/README.md, ninth round).
 */
export const fanRepeat = (o: Pick<Options, 'repeat' | 'smoke'>): number => (o.smoke ? o.repeat : o.repeat * 3);

/** Tiny sizes: every code path of the bench in well under a minute. */
export const SMOKE: Partial<Options> = {
  repeat: 1,
  sessions: 4,
  concurrency: 4,
  pairs: 2,
  messages: 20,
  asks: 20,
  fanout: [10],
  idle: 10,
  frames: 20,
  floodSeconds: 1,
  storm: 10,
  queued: 20,
  maxSeconds: 120,
};

/** Default sizes and no [vars] override: the runs the README's tables compare. */
export const isDefault = (o: Options): boolean =>
  (Object.keys(DEFAULTS) as (keyof Options)[])
    .filter((k) => k !== 'json' && k !== 'save' && k !== 'hubVars')
    .every((k) => JSON.stringify(o[k]) === JSON.stringify(DEFAULTS[k])) && Object.keys(o.hubVars).length === 0;
