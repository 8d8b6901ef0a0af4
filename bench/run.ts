/**
 * One bench run: starts the servers (`processes.ts`), runs each chosen
 * scenario (`scenarios/`) on the hub and the baseline, and returns the
 * report (`report.ts`). `cli.ts` is the command line around it.
 */
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import type { DevServer } from '../harness/net/dev-server';
import { RAISED_LIMITS, SCENARIOS, isDefault, type Options } from './options';
import { findWorkerd, portOf, startServers } from './processes';
import { machineInfo, sourceInfo, type Report, type Side } from './report';
import { NEED_RESUME_OFF, NEED_SHIPPED, SCENARIO_RUNS } from './scenarios/index';
import { RESUME_OFF } from './scenarios/resume';
import { baselineTarget, hubTarget, type Room } from './targets';
import { closeRoom } from './scenarios/rooms';


/**
 * Runs the bench and returns its report. Both servers are stopped before it
 * returns or throws; a run that passes `maxSeconds` is stopped as well.
 */
export const runBench = async (o: Options, log: (line: string) => void = (l) => console.error(l)): Promise<Report> => {
  const started = performance.now();
  const hubVars = { ...RAISED_LIMITS, ...o.hubVars };
  const servers: DevServer[] = [];
  const stopAll = () => Promise.allSettled(servers.splice(0).map((s) => s.stop()));
  const onSignal = (signal: NodeJS.Signals) => {
    void stopAll().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let watchdog: NodeJS.Timeout | undefined;
  const overtime = new Promise<never>((_, fail) => {
    watchdog = setTimeout(() => fail(new Error(`bench passed --max-seconds ${o.maxSeconds}`)), o.maxSeconds * 1000);
  });
  const report: Report = {
    bench: 'signal-hub',
    date: new Date().toISOString(),
    mode: o.smoke ? 'smoke' : isDefault(o) ? 'default' : 'custom',
    machine: machineInfo(),
    source: sourceInfo(),
    hubVars,
    options: {
      repeat: o.repeat,
      sessions: o.sessions,
      concurrency: o.concurrency,
      pairs: o.pairs,
      messages: o.messages,
      asks: o.asks,
      fanout: o.fanout,
      idle: o.idle,
      frames: o.frames,
      floodSeconds: o.floodSeconds,
      storm: o.storm,
      queued: o.queued,
      baselineWork: o.baselineWork,
      baselineYield: o.baselineYield,
      only: o.only,
      maxSeconds: o.maxSeconds,
    },
    metrics: [],
    frameCost: [],
    errors: [],
    processGroups: [],
    durationMs: 0,
  };
  const body = async () => {
    log('starting the hub and the baseline under wrangler dev ...');
    // Fairness and refusal also run the hub with its shipped rate limits, where the flood is refused.
    const needShipped = o.only.some((n) => NEED_SHIPPED.includes(n));
    const onStarted = (s: DevServer) => {
      servers.push(s);
      report.processGroups = servers.map((x) => x.pid);
    };
    // The resume scenario compares the normal path with resume on and off: a hub with RESUME_GRACE_MS=0 beside the default one.
    const needResumeOff = o.only.some((n) => NEED_RESUME_OFF.includes(n));
    const {
      hub: hubServer,
      baseline: baseServer,
      shipped: shippedServer,
      resumeOff: resumeOffServer,
    } = await startServers(hubVars, needShipped ? o.hubVars : null, onStarted, needResumeOff ? RESUME_OFF : null);
    const targets = [
      hubTarget(hubServer, findWorkerd(hubServer.pid, portOf(hubServer))),
      baselineTarget(baseServer, findWorkerd(baseServer.pid, portOf(baseServer))),
    ];
    const resumeOff = resumeOffServer ? hubTarget(resumeOffServer, findWorkerd(resumeOffServer.pid, portOf(resumeOffServer))) : undefined;
    const kept = new Map<Side, Room>();
    for (const name of SCENARIOS) {
      if (!o.only.includes(name)) continue;
      for (const t of targets) {
        // Wrangler restarts workerd if it dies; a restart drops every socket and must not go unnoticed.
        const now = findWorkerd(t.server.pid, portOf(t.server));
        if (now.runtime !== t.procs.runtime) {
          report.errors.push({ scenario: name, error: `${t.side} workerd runtime restarted (pid ${t.procs.runtime} -> ${now.runtime})` });
          Object.assign(t.procs, now);
        }
      }
      const t0 = performance.now();
      log(`scenario ${name} ...`);
      try {
        await SCENARIO_RUNS[name]({
          name,
          targets,
          o,
          report,
          kept,
          ...(shippedServer ? { shipped: shippedServer } : {}),
          ...(resumeOff ? { resumeOff } : {}),
        });
      } catch (err) {
        const tails = servers.map((s, i) => `--- ${i === 0 ? 'hub' : 'baseline'} server output (tail) ---\n${s.output().slice(-1_500)}`);
        report.errors.push({ scenario: name, error: err instanceof Error ? err.message : String(err) });
        log(`scenario ${name} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n${tails.join('\n')}`);
      }
      log(`scenario ${name} done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    }
    for (const leftover of kept.values()) await closeRoom(leftover);
  };
  try {
    await Promise.race([body(), overtime]);
  } finally {
    clearTimeout(watchdog);
    await stopAll();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  report.durationMs = performance.now() - started;
  report.machine.loadAverage1mAtEnd = Number(os.loadavg()[0]!.toFixed(2));
  return report;
};
