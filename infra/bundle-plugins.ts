/**
 * esbuild plugins of the Lambda bundles: each lets esbuild drop code the functions can never reach,
 * without changing what the code that stays does. Measured one by one in docs/benchmarks.md.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import path from 'node:path';
import type { Metafile, Plugin } from 'esbuild';

/**
 * AWS SDK clients describe every shape of their service in one generated `schemas_0.js`, whose
 * object literals use computed keys (`{ [_xN]: "instancesSet" }`, `_xN` a string constant). esbuild
 * must assume a computed key may run code, so it keeps every schema of the service: 0.54 MB of EC2
 * schemas for the one operation the functions call. The keys are replaced by the constants' string
 * values (the same object at run time), and the unused schemas become removable.
 */
export const smithySchemaKeys: Plugin = {
  name: 'smithy-schema-keys',
  setup(build) {
    build.onLoad(
      {
        filter:
          /[\\/]node_modules[\\/]@aws-sdk[\\/][^\\/]+[\\/]dist-es[\\/](?:.+[\\/])?schemas[\\/]schemas_\d+\.js$/,
      },
      (args) => ({ contents: inlineSchemaKeys(readFileSync(args.path, 'utf8')), loader: 'js' }),
    );
  },
};

/** `{ [_x]: v }` -> `{ "value of _x": v }` for the module's top-level string constants. */
export function inlineSchemaKeys(source: string): string {
  const constants = new Map<string, string>();
  for (const m of source.matchAll(/^const (_\w+) = ("(?:[^"\\\n]|\\.)*");$/gm)) constants.set(m[1]!, m[2]!);
  return source.replace(/([{,]\s*)\[(_\w+)\](\s*:)/g, (all, before: string, name: string, after: string) => {
    const value = constants.get(name);
    return value === undefined ? all : `${before}${value}${after}`;
  });
}

const CLIENT_NODE = `${path.sep}node_modules${path.sep}@kubernetes${path.sep}client-node${path.sep}dist${path.sep}`;
const MODELS_DIR = `${CLIENT_NODE}gen${path.sep}models${path.sep}`;
const OBJECT_SERIALIZER = `${MODELS_DIR}ObjectSerializer.js`;
/** client-node modules that (de)serialize by a type name computed at run time (apiVersion + kind). */
const DYNAMIC_TYPES = ['object.js', 'yaml.js'].map((f) => `${CLIENT_NODE}${f}`);

const API_FILE =
  /[\\/]@kubernetes[\\/]client-node[\\/]dist[\\/]gen[\\/](?:apis[\\/]\w+Api|types[\\/](?:Observable|ObjectParam|Promise)API)\.js$/;

const words = (text: string) => text.match(/[A-Za-z_]\w*/g) ?? [];

/**
 * Every identifier of the project's own code (`shared/`, `functions/`): the API methods it can
 * call are among them (any mention keeps a method). Read from the sources, no build needed.
 */
export function projectWords(root: string): Set<string> {
  const found = new Set<string>();
  const scan = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const file = path.join(dir, entry.name);
      if (entry.isDirectory()) scan(file);
      else if (entry.name.endsWith('.ts')) for (const w of words(readFileSync(file, 'utf8'))) found.add(w);
    }
  };
  scan(path.join(root, 'shared'));
  scan(path.join(root, 'functions'));
  return found;
}

/**
 * Every identifier of the hand-written client-node modules in a bundle (`metafile`): the generated
 * API methods they call (the few they do) must stay too.
 */
export function clientNodeWords(metafile: Metafile, root: string): Set<string> {
  const found = new Set<string>();
  for (const file of contributing(metafile, root)) {
    if (file.includes(`${CLIENT_NODE}gen${path.sep}`)) continue;
    for (const w of words(readFileSync(file, 'utf8'))) found.add(w);
  }
  return found;
}

/**
 * Drops the methods of client-node's generated API classes that `used` never names (the request
 * factory, response processor, observable, object-parameter and promise layers of each API). The
 * generated files put each method at four spaces, from `name(` (or `async name(`) to a line `    }`.
 */
export function trimApiClasses(source: string, used: ReadonlySet<string>): string {
  const lines = source.split('\n');
  const out: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const m = /^ {4}(?:async )?(\w+)\(.*\) \{$/.exec(lines[i]!);
    const base = m?.[1]?.replace(/WithHttpInfo$/, '');
    if (base !== undefined && base !== 'constructor' && !used.has(base)) {
      while (i < lines.length && lines[i] !== '    }') i++;
      continue;
    }
    out.push(lines[i]!);
  }
  return out.join('\n');
}

/**
 * @kubernetes/client-node's generated API classes hold every endpoint of their group: CoreV1Api alone
 * is 0.37 MB minified (pods, nodes, secrets...) for the few Service calls the functions make, and
 * the layers wrapping it as much again; a class's unused methods are beyond tree-shaking. Here each
 * keeps the methods `used` names ({@link projectWords}, {@link clientNodeWords}); the models those name follow
 * ({@link kubernetesModelsUsed}).
 */
export function kubernetesApis(used: ReadonlySet<string>): Plugin {
  return {
    name: 'kubernetes-apis',
    setup(build) {
      // client-node's hand-written modules only define things (the package declares no
      // `sideEffects`): one the code does not use goes entirely, and with it the generated methods it
      // would call (port-forward's pod listing, say). The File polyfill is a real side effect.
      build.onResolve({ filter: /^\.\/[\w-]+\.js$/ }, (args) => {
        if (!args.importer.includes(CLIENT_NODE) || args.importer.includes(`${CLIENT_NODE}gen${path.sep}`)) {
          return undefined;
        }
        if (args.path === './polyfill.js') return undefined;
        return { path: path.resolve(args.resolveDir, args.path), sideEffects: false };
      });
      build.onLoad({ filter: API_FILE }, (args) => ({
        contents: trimApiClasses(readFileSync(args.path, 'utf8'), used),
        loader: 'js',
      }));
    },
  };
}

/** The client-node files that put code into the bundle (absolute paths). */
function contributing(metafile: Metafile, root: string): string[] {
  const output = Object.values(metafile.outputs).find((o) => o.entryPoint !== undefined);
  return Object.entries(output?.inputs ?? {})
    .filter(([, input]) => input.bytesInOutput > 0)
    .map(([file]) => path.resolve(root, file))
    .filter((file) => file.includes(CLIENT_NODE));
}

/** Every model name of client-node's ObjectSerializer type map. */
function modelNames(source: string): Set<string> {
  const start = source.indexOf('let typeMap = {');
  const end = source.indexOf('};', start);
  return new Set([...source.slice(start, end).matchAll(/^\s*"(\w+)": \w+,?$/gm)].map((m) => m[1]!));
}

function namesIn(source: string, known: ReadonlySet<string>): string[] {
  return [...new Set(source.match(/[A-Za-z_]\w*/g) ?? [])].filter((word) => known.has(word));
}

/**
 * The client-node models a bundle can (de)serialize: the ones named by the client-node modules that
 * made it into the bundle (`metafile` of a first build), and every model those name in turn.
 * `undefined` when a module that computes type names at run time is in the bundle: then all of them.
 */
export function kubernetesModelsUsed(
  metafile: Metafile,
  root: string,
  methods?: ReadonlySet<string>,
): Set<string> | undefined {
  // The API files as bundled: trimmed to the methods in use, when they are.
  const read = (file: string) => {
    const source = readFileSync(file, 'utf8');
    return methods && API_FILE.test(file) ? trimApiClasses(source, methods) : source;
  };
  const files = contributing(metafile, root);
  if (files.some((file) => DYNAMIC_TYPES.includes(file))) return undefined;
  const serializer = files.find((f) => f.endsWith(OBJECT_SERIALIZER));
  if (serializer === undefined) return new Set();
  const known = modelNames(readFileSync(serializer, 'utf8'));
  const used = new Set<string>();
  const pending = files
    .filter((file) => !file.includes(MODELS_DIR))
    .flatMap((file) => namesIn(read(file), known));
  while (pending.length > 0) {
    const name = pending.pop()!;
    if (used.has(name)) continue;
    used.add(name);
    pending.push(...namesIn(readFileSync(path.join(path.dirname(serializer), `${name}.js`), 'utf8'), known));
  }
  return used;
}

/**
 * @kubernetes/client-node's ObjectSerializer imports all of its ~760 generated models for its type
 * map, and both it and `models/all.js` re-export them; each model module assigns static fields at
 * load, so none can be dropped: 0.36 MB in every bundle, while the custom-object API the functions
 * use sends and receives plain JSON. Here both modules keep only the models `used` (from
 * {@link kubernetesModelsUsed}), so an API added later brings its models without a change here.
 * Code importing a model class that no API it calls needs fails the build ("No matching export").
 */
export function kubernetesModels(used: ReadonlySet<string> | undefined): Plugin {
  return {
    name: 'kubernetes-models',
    setup(build) {
      if (used === undefined) return;
      const keep = (name: string) => used.has(name);
      build.onLoad(
        {
          filter:
            /[\\/]@kubernetes[\\/]client-node[\\/]dist[\\/]gen[\\/]models[\\/](?:ObjectSerializer|all)\.js$/,
        },
        (args) => {
          const contents = readFileSync(args.path, 'utf8')
            .replace(/^export \* from '\.\.\/models\/(\w+)\.js';\n/gm, (line, name: string) =>
              keep(name) ? line : '',
            )
            .replace(/^import \{ (\w+) \} from '\.\.\/models\/\w+\.js';\n/gm, (line, name: string) =>
              keep(name) ? line : '',
            )
            .replace(/^\s*"(\w+)": (\w+),?\n/gm, (line, name: string) => (keep(name) ? line : ''));
          return { contents, loader: 'js' };
        },
      );
    },
  };
}

const BUILTIN = new RegExp(
  `^(?:node:)?(?:${builtinModules.map((m) => m.replace(/[/]/g, '\\/')).join('|')})$`,
);

/**
 * Node built-ins are `require`d, not `import`ed. An ES module import of a built-in makes Node build
 * an ES module facade that reads every export, and reading `node:http`'s lazy exports loads Node's
 * internal undici: about 100 ms of every cold start for an API nobody calls. Through `require`
 * (the bundle's banner provides one) esbuild reads each export where it is used.
 */
export const requireBuiltins: Plugin = {
  name: 'require-builtins',
  setup(build) {
    build.onResolve({ filter: BUILTIN }, (args) =>
      args.namespace === 'builtin'
        ? { path: args.path, external: true }
        : { path: args.path.replace(/^node:/, ''), namespace: 'builtin' },
    );
    build.onLoad({ filter: /.*/, namespace: 'builtin' }, (args) => ({
      contents: `module.exports = require(${JSON.stringify(`node:${args.path}`)});`,
      loader: 'js',
    }));
  },
};
