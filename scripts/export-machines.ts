/**
 * Writes every XState machine of the project to machines/export/:
 *
 * - `<id>.json`, the config, for Stately Studio: paste a file's content into
 *   Studio's code import as `createMachine(<content>)`;
 * - `<id>.simulable.mjs`, which runs that config with every guard, action and
 *   named delay provided as a named stub (simulable-runtime.mjs), so it steps
 *   under plain xstate in Node or a browser: guards answer what the caller
 *   says (false by default), actions are recorded, delays are 1 s;
 * - `<id>.mermaid.md`, a Mermaid state diagram (GitHub renders it).
 *
 * Usage: npm run machines:export [-- --out <dir>]
 *
 * The JSON is the machine's config. Implementations (actions, guards) are
 * referenced by name there already; the context factory, which needs input,
 * is replaced by the context it builds from an example input, so Studio
 * shows real field names and types. Computed action params are left out and
 * other functions become `{ "type": name }`, the form the Stately inspector uses.
 *
 * To add a machine, add an entry to MACHINES (or OPTIONAL_MACHINES for one in
 * a module that may not exist yet).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { initialTransition, type AnyStateMachine } from 'xstate';
import { sessionMachine } from '../machines/session';
import { DEFAULT_CONFIG } from '../src/config';

interface Entry {
  machine: AnyStateMachine;
  /** Input for building an example context (machines whose context is a function of input). */
  exampleInput?: unknown;
}

const MACHINES: Entry[] = [
  {
    machine: sessionMachine,
    exampleInput: {
      sessionId: 'example-session',
      now: 0,
      connectTimeoutMs: DEFAULT_CONFIG.connectTimeoutMs,
      heartbeatTimeoutMs: DEFAULT_CONFIG.heartbeatTimeoutMs,
    },
  },
];

/** Machines in modules that other work may add, rename or not have finished; skipped with a note when absent. */
const OPTIONAL_MACHINES: { module: string; exportName: string; exampleInput?: unknown }[] = [
  { module: '../src/client/connection-machine', exportName: 'connectionMachine', exampleInput: {} },
];

const isMachine = (value: unknown): value is AnyStateMachine =>
  typeof value === 'object' && value !== null && 'config' in value && 'id' in value && typeof (value as { transition?: unknown }).transition === 'function';

/**
 * Computed action params depend on the event at run time: Studio can do
 * nothing with them, so they are left out. Any other function is shown by name.
 */
const namedFunctions = (key: string, value: unknown): unknown => {
  if (typeof value !== 'function') return value;
  return key === 'params' ? undefined : { type: (value as { name?: string }).name || 'anonymous' };
};

export const exportable = ({ machine, exampleInput }: Entry): Record<string, unknown> => {
  const config = JSON.parse(JSON.stringify(machine.config, namedFunctions)) as Record<string, unknown>;
  if (typeof machine.config.context === 'function') {
    try {
      const [initial] = initialTransition(machine, exampleInput);
      config.context = JSON.parse(JSON.stringify(initial.context, namedFunctions)) as unknown;
    } catch (err) {
      // An example context is a nicety; the machine is still worth exporting without it.
      console.warn(`${machine.id}: no example context (${err instanceof Error ? err.message : String(err)})`);
    }
  }
  return config;
};

/** Every guard, action and named delay a config refers to, by name: what a simulable copy must provide. */
export const implementationNames = (config: unknown): { guards: string[]; actions: string[]; delays: string[] } => {
  const guards = new Set<string>();
  const actions = new Set<string>();
  const delays = new Set<string>();
  const nameOf = (ref: unknown): string | null =>
    typeof ref === 'string' ? ref : typeof ref === 'object' && ref !== null && typeof (ref as { type?: unknown }).type === 'string' ? (ref as { type: string }).type : null;
  const addActions = (refs: unknown) => {
    for (const ref of Array.isArray(refs) ? refs : [refs]) {
      const name = nameOf(ref);
      // xstate's own actions (xstate.raise, …) are provided by xstate.
      if (name !== null && !name.startsWith('xstate.')) actions.add(name);
    }
  };
  const visitTransitions = (transitions: unknown) => {
    for (const t of Array.isArray(transitions) ? transitions : [transitions]) {
      if (typeof t !== 'object' || t === null) continue;
      const guard = nameOf((t as { guard?: unknown }).guard);
      if (guard !== null) guards.add(guard);
      if ('actions' in t) addActions((t as { actions: unknown }).actions);
    }
  };
  const visitState = (node: Record<string, unknown>) => {
    if ('entry' in node) addActions(node.entry);
    if ('exit' in node) addActions(node.exit);
    for (const transitions of Object.values((node.on ?? {}) as Record<string, unknown>)) visitTransitions(transitions);
    for (const [delay, transitions] of Object.entries((node.after ?? {}) as Record<string, unknown>)) {
      if (!/^\d+$/.test(delay)) delays.add(delay);
      visitTransitions(transitions);
    }
    if ('always' in node) visitTransitions(node.always);
    for (const child of Object.values((node.states ?? {}) as Record<string, Record<string, unknown>>)) visitState(child);
  };
  visitState(config as Record<string, unknown>);
  const sorted = (set: Set<string>) => [...set].sort();
  return { guards: sorted(guards), actions: sorted(actions), delays: sorted(delays) };
};

/** The stub implementations every simulable module shares; written once, as simulable-runtime.mjs. */
export const SIMULABLE_RUNTIME = `// Generated by \`npm run machines:export\`; do not edit.
// What every <id>.simulable.mjs in this folder shares: the machine config with
// named stubs for its guards, actions and delays, under plain xstate 5.
import { setup } from 'xstate';

export const simulable = (config, { guardNames, actionNames, delayNames }, { guards = {}, delays = {}, calls = [] } = {}) =>
  setup({
    // A guard answers what the caller passed: a boolean, or a function of {context, event}; false when absent.
    guards: Object.fromEntries(
      guardNames.map((name) => [name, (args) => (typeof guards[name] === 'function' ? Boolean(guards[name](args)) : guards[name] === true)]),
    ),
    // An action only records its name, so the context stays the example one.
    actions: Object.fromEntries(actionNames.map((name) => [name, () => void calls.push(name)])),
    delays: Object.fromEntries(delayNames.map((name) => [name, delays[name] ?? 1000])),
  }).createMachine(config);
`;

/** An ES module that runs the exported config (<id>.json) with named stubs for everything it refers to. */
export const simulableModule = (id: string, source: string, config: Record<string, unknown>): string => {
  const names = implementationNames(config);
  return `// Generated by \`npm run machines:export\` from ${source}; do not edit.
//
// The ${id} machine (${id}.json) with every guard, action and named delay
// of the real one replaced by a named stub, so it runs under plain xstate 5
// and can be stepped event by event:
//
//   import { createActor } from 'xstate';
//   import { createSimulableMachine } from './${id}.simulable.mjs';
//   const calls = [];
//   const actor = createActor(createSimulableMachine({ guards: { someGuard: true }, calls })).start();
//   actor.send({ type: 'SOME_EVENT' }); // actor.getSnapshot().value, and calls lists the actions run
//
// Guards answer from \`guards\` (false when absent), actions only record their
// name in \`calls\`, and named delays last \`delays[name]\` ms (1000).
import config from './${id}.json' with { type: 'json' };
import { simulable } from './simulable-runtime.mjs';

export { config };
export const guardNames = ${JSON.stringify(names.guards)};
export const actionNames = ${JSON.stringify(names.actions)};
export const delayNames = ${JSON.stringify(names.delays)};

export const createSimulableMachine = (options = {}) => simulable(config, { guardNames, actionNames, delayNames }, options);

export default createSimulableMachine();
`;
};

/** Target state names of a transition list, resolved to the sibling states of a flat machine. */
const targetsOf = (transitions: unknown, self: string): { target: string; guard: string | null }[] =>
  (Array.isArray(transitions) ? transitions : [transitions]).flatMap((t) => {
    if (typeof t === 'string') return [{ target: t, guard: null }];
    if (typeof t !== 'object' || t === null) return [];
    const raw = (t as { target?: unknown }).target;
    const guardRef = (t as { guard?: unknown }).guard;
    const guard = typeof guardRef === 'string' ? guardRef : ((guardRef as { type?: string } | undefined)?.type ?? null);
    const targets = raw === undefined ? [self] : Array.isArray(raw) ? raw : [raw];
    return targets.map((target) => ({ target: String(target).replace(/^#[^.]+\./, '').replace(/^\./, ''), guard }));
  });

/**
 * A Mermaid stateDiagram-v2 of a machine's top-level states. Every event that
 * leaves a state is an arrow, labelled with the event and its guard; events
 * that stay in the state are listed in a note, so the picture keeps the story
 * (how a session ends) without forty self-loops.
 */
export const mermaid = (id: string, source: string, config: Record<string, unknown>): string => {
  const states = (config.states ?? {}) as Record<string, Record<string, unknown>>;
  const safe = (name: string) => name.replace(/[^A-Za-z0-9_]/g, '_');
  const lines = ['stateDiagram-v2'];
  for (const name of Object.keys(states)) if (safe(name) !== name) lines.push(`  state "${name}" as ${safe(name)}`);
  if (typeof config.initial === 'string') lines.push(`  [*] --> ${safe(config.initial)}`);
  for (const [name, node] of Object.entries(states)) {
    const stays: string[] = [];
    const edges = new Map<string, string[]>();
    const add = (label: string, transitions: unknown) => {
      for (const { target, guard } of targetsOf(transitions, name)) {
        const text = guard ? `${label} [${guard}]` : label;
        if (target === name) {
          if (!stays.includes(label)) stays.push(label);
        } else {
          const list = edges.get(target) ?? [];
          if (!list.includes(text)) list.push(text);
          edges.set(target, list);
        }
      }
    };
    for (const [event, transitions] of Object.entries((node.on ?? {}) as Record<string, unknown>)) add(event, transitions);
    for (const [delay, transitions] of Object.entries((node.after ?? {}) as Record<string, unknown>)) add(`after ${delay}`, transitions);
    for (const [target, labels] of edges) lines.push(`  ${safe(name)} --> ${safe(target)}: ${labels.join(', ')}`);
    if (node.type === 'final') lines.push(`  ${safe(name)} --> [*]`);
    if (stays.length > 0) lines.push(`  note right of ${safe(name)}: stays on ${stays.join(', ')}`);
  }
  return `# ${id}\n\nGenerated by \`npm run machines:export\` from \`${source}\`; do not edit.\n\n\`\`\`mermaid\n${lines.join('\n')}\n\`\`\`\n`;
};

/** Where each machine comes from, for the generated files' headers. */
const SOURCES: Record<string, string> = { session: 'machines/session.ts', hubConnection: 'src/client/connection-machine.ts' };

/** The machines this checkout has: the listed ones, plus optional ones whose module exists. */
export const loadMachines = async (): Promise<Entry[]> => {
  const entries = [...MACHINES];
  for (const optional of OPTIONAL_MACHINES) {
    // A string held in a variable keeps the type checker from requiring the module to exist.
    const specifier: string = optional.module;
    try {
      const mod = (await import(specifier)) as Record<string, unknown>;
      const machine = mod[optional.exportName];
      if (isMachine(machine)) entries.push({ machine, exampleInput: optional.exampleInput });
      else console.warn(`skipped ${optional.module}: no machine exported as ${optional.exportName}`);
    } catch (err) {
      console.warn(`skipped ${optional.module}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  return entries;
};

/** Every file the export writes, by name, with its content. */
export const exportFiles = (entries: Entry[]): Map<string, string> => {
  const files = new Map<string, string>([['simulable-runtime.mjs', SIMULABLE_RUNTIME]]);
  const ids = new Set<string>();
  for (const entry of entries) {
    const id = entry.machine.id;
    if (ids.has(id)) throw new Error(`two machines share the id ${id}; their exports would overwrite each other`);
    ids.add(id);
    const config = exportable(entry);
    const source = SOURCES[id] ?? 'its module';
    files.set(`${id}.json`, `${JSON.stringify(config, null, 2)}\n`);
    files.set(`${id}.simulable.mjs`, simulableModule(id, source, config));
    files.set(`${id}.mermaid.md`, mermaid(id, source, config));
  }
  return files;
};

const main = async (): Promise<void> => {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
  const outFlag = process.argv.indexOf('--out');
  const out = outFlag >= 0 && process.argv[outFlag + 1] ? resolve(process.argv[outFlag + 1]!) : join(root, 'machines', 'export');
  mkdirSync(out, { recursive: true });
  for (const [name, content] of exportFiles(await loadMachines())) {
    const file = join(out, name);
    writeFileSync(file, content);
    console.log(`wrote ${relative(process.cwd(), file)}`);
  }
};

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
