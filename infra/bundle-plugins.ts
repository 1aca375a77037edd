/**
 * esbuild plugins of the Lambda bundles: each lets esbuild drop code the functions can never reach,
 * without changing what the code that stays does. Measured one by one in docs/benchmarks.md.
 */
import { readFileSync } from 'node:fs';
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
export function kubernetesModelsUsed(metafile: Metafile, root: string): Set<string> | undefined {
  const output = Object.values(metafile.outputs).find((o) => o.entryPoint !== undefined);
  if (output === undefined) return undefined;
  const files = Object.entries(output.inputs)
    .filter(([, input]) => input.bytesInOutput > 0)
    .map(([file]) => path.resolve(root, file))
    .filter((file) => file.includes(CLIENT_NODE));
  if (files.some((file) => DYNAMIC_TYPES.includes(file))) return undefined;
  const serializer = files.find((f) => f.endsWith(OBJECT_SERIALIZER));
  if (serializer === undefined) return new Set();
  const known = modelNames(readFileSync(serializer, 'utf8'));
  const used = new Set<string>();
  const pending = files
    .filter((file) => !file.includes(MODELS_DIR))
    .flatMap((file) => namesIn(readFileSync(file, 'utf8'), known));
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
