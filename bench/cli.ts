/**
 * `npm run bench`: parses the command line (`node:util` parseArgs), runs the
 * bench (`run.ts`) and prints the table and one JSON line (`report.ts`).
 * See bench/README.md for what each scenario measures and how to read it.
 */
import { parseArgs as parseNodeArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { DEFAULTS, SCENARIOS, SMOKE, type Options, type ScenarioName } from './options';
import { renderTable, saveReport } from './report';
import { runBench } from './run';

const USAGE = `usage: tsx bench/cli.ts [options]   (npm run bench -- [options])
  --smoke               tiny sizes, one run each (the test suite runs this)
  --json                print only the JSON line on stdout (the table goes to stderr)
  --save                also write bench/results/<date>.json
  --repeat R            runs per scenario, medians reported (default 5; memory always 1)
  --sessions N          connect+register: sessions per run (default 200)
  --concurrency C       connect+register: handshakes in flight (default 25)
  --storm N             storm: sessions that connect, register and subscribe all at once (default 200)
  --pairs P             tell: sender/receiver pairs (default 10)
  --messages M          tell: messages per pair (default 1000; CPU comes in 10 ms ticks, so 10 000 tells bill to 1 µs)
  --asks K              ask: sequential round trips per run (default 200)
  --queued N            resume: messages queued for a suspended receiver, as tells and as asks (default 1000)
  --fanout A,B,...      broadcast and publish recipient counts (default 100,1000; add 5000 if you like)
  --idle N              memory: idle sessions opened (default 1000; reported per 1000)
  --frames F            framecost: frames per probe (default 400)
  --flood-seconds S     fairness: how long the flood runs while the askers ask (default 5)
  --baseline-work K     fairness: the raw object's flood frames each do K JSON.parse rounds first (a frame as dear as the hub's)
  --baseline-yield N    fairness, with --baseline-work: the raw object yields to its other sockets every N frames of one socket
  --only a,b,...        scenarios to run: ${SCENARIOS.join(', ')}
  --hub-var KEY=VALUE   extra [vars] override for the hub (repeatable), e.g. BROADCAST_SYNC_THRESHOLD=1000
  --max-seconds S       hard cap on the whole run (default 900); everything is stopped when it passes`;

const positiveInt = (flag: string, value: string): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${flag} needs a positive integer, got ${value}`);
  return n;
};

/** The numeric flags and the option each one sets. */
const COUNTS = {
  repeat: 'repeat',
  sessions: 'sessions',
  concurrency: 'concurrency',
  storm: 'storm',
  queued: 'queued',
  pairs: 'pairs',
  messages: 'messages',
  asks: 'asks',
  idle: 'idle',
  frames: 'frames',
  'flood-seconds': 'floodSeconds',
  'baseline-work': 'baselineWork',
  'baseline-yield': 'baselineYield',
  'max-seconds': 'maxSeconds',
} as const satisfies Record<string, keyof Options>;

/** Throws with a message fit for the user on anything it cannot use; `--help` is reported as `help: true`. */
export const parseArgs = (argv: string[]): Options & { help: boolean } => {
  const { values } = parseNodeArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      smoke: { type: 'boolean' },
      json: { type: 'boolean' },
      save: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
      fanout: { type: 'string' },
      only: { type: 'string' },
      'hub-var': { type: 'string', multiple: true },
      ...(Object.fromEntries(Object.keys(COUNTS).map((k) => [k, { type: 'string' }])) as Record<keyof typeof COUNTS, { type: 'string' }>),
    },
  });
  const smoke = values.smoke === true;
  const opts: Options = { ...DEFAULTS, ...(smoke ? SMOKE : {}), smoke, hubVars: {} };
  opts.json = values.json === true;
  opts.save = values.save === true;
  for (const [flag, key] of Object.entries(COUNTS) as [keyof typeof COUNTS, (typeof COUNTS)[keyof typeof COUNTS]][]) {
    const v = values[flag];
    if (v !== undefined) opts[key] = positiveInt(flag, v);
  }
  if (values.fanout !== undefined) opts.fanout = values.fanout.split(',').map((s) => positiveInt('fanout', s.trim()));
  if (values.only !== undefined) {
    const names = values.only.split(',').map((s) => s.trim());
    for (const n of names) if (!(SCENARIOS as readonly string[]).includes(n)) throw new Error(`unknown scenario ${n}`);
    opts.only = names as ScenarioName[];
  }
  for (const v of values['hub-var'] ?? []) {
    const eq = v.indexOf('=');
    if (eq < 1) throw new Error(`--hub-var needs KEY=VALUE, got ${v}`);
    opts.hubVars[v.slice(0, eq)] = v.slice(eq + 1);
  }
  return { ...opts, help: values.help === true };
};

const main = async () => {
  let opts: Options & { help: boolean };
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (err) {
    console.error(`${(err as Error).message}\n${USAGE}`);
    process.exit(2);
  }
  if (opts.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const report = await runBench(opts);
  const table = renderTable(report);
  if (opts.json) console.error(table);
  else console.log(table);
  if (opts.save) console.error(`saved ${saveReport(report)}`);
  console.log(JSON.stringify(report));
  // Exit now: a run cut short by --max-seconds may still have bounded waits pending.
  process.exit(report.errors.length > 0 ? 1 : 0);
};

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((err) => {
    console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
    process.exit(1);
  });
}
