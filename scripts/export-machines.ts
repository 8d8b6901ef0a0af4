/**
 * Writes every XState machine of the project to machines/export/<id>.json,
 * for Stately Studio: paste a file's content into Studio's code import as
 * `createMachine(<content>)`.
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

const main = async (): Promise<void> => {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
  const outFlag = process.argv.indexOf('--out');
  const out = outFlag >= 0 && process.argv[outFlag + 1] ? resolve(process.argv[outFlag + 1]!) : join(root, 'machines', 'export');

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

  mkdirSync(out, { recursive: true });
  const ids = new Set<string>();
  for (const entry of entries) {
    const id = entry.machine.id;
    if (ids.has(id)) throw new Error(`two machines share the id ${id}; their exports would overwrite each other`);
    ids.add(id);
    const file = join(out, `${id}.json`);
    writeFileSync(file, `${JSON.stringify(exportable(entry), null, 2)}\n`);
    console.log(`wrote ${relative(process.cwd(), file)}`);
  }
};

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
