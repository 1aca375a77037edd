/**
 * One definition of how the Lambda handlers are bundled ({@link bundleHandler}), used by the CDK
 * functions (through `infra/bundle.ts`, see infra/constructs/node-function.ts), `npm run build`,
 * the bundle test and the benchmarks, so the bundle measured is the bundle deployed.
 */
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { type BuildOptions, build, type Metafile } from 'esbuild';
import {
  clientNodeWords,
  kubernetesApis,
  kubernetesModels,
  kubernetesModelsUsed,
  projectWords,
  requireBuiltins,
  smithySchemaKeys,
} from './bundle-plugins.ts';

/** Repository root (holds package.json and package-lock.json). */
export const PROJECT_ROOT = path.resolve(import.meta.dirname, '..');

/** Handler source of each function, relative to {@link PROJECT_ROOT}. Each exports `handler`. */
export const FUNCTION_ENTRIES = {
  registrar: 'functions/registrar/handler.ts',
  reconciler: 'functions/reconciler/handler.ts',
  bootstrap: 'functions/bootstrap/handler.ts',
} as const;
export type FunctionName = keyof typeof FUNCTION_ENTRIES;

/** Absolute path of a function's handler source. */
export function entryPath(name: FunctionName): string {
  return path.join(PROJECT_ROOT, FUNCTION_ENTRIES[name]);
}

/**
 * Packages replaced in the Lambda bundles. `undici` becomes Node 24's built-in fetch (see
 * infra/shims/undici.ts): 0.7 MB less to load at every cold start, and pooled TLS connections.
 * Packages for client-node features the functions never use become stubs that fail loudly.
 */
export const BUNDLE_ALIASES: Readonly<Record<string, string>> = {
  undici: path.join(PROJECT_ROOT, 'infra', 'shims', 'undici.ts'),
  // Features of client-node the functions never use (infra/shims/unavailable.ts): 0.27 MB less.
  ...Object.fromEntries(
    [
      'socks',
      'socks-proxy-agent',
      'hpagent',
      'openid-client',
      'jsonpath-plus',
      'tar-fs',
      'isomorphic-ws',
    ].map((name) => [name, path.join(PROJECT_ROOT, 'infra', 'shims', 'unavailable.ts')]),
  ),
};

/**
 * Node flags of the deployed functions (NODE_OPTIONS). Source maps make stack traces readable. A
 * 4 MB young-generation semi-space (V8's default on a large host is 16 MB) keeps a 10,000-instance
 * sweep's peak RSS near 215 MB instead of 310 MB, with no measurable cost in time (docs/benchmarks.md).
 */
export const LAMBDA_NODE_OPTIONS = '--enable-source-maps --max-semi-space-size=4';

/** esbuild target matching the Lambda runtime (nodejs24.x). */
export const NODE_TARGET = 'node24';

/**
 * ESM output has no `require`; some dependencies still call it for Node built-ins. This banner
 * creates one from `import.meta.url`. The import is aliased so it cannot collide with a bundled
 * `createRequire`.
 */
export const ESM_REQUIRE_BANNER =
  "import { createRequire as __bannerCreateRequire } from 'node:module'; const require = __bannerCreateRequire(import.meta.url);";

/**
 * Prefer packages' ESM entry points (`module`) over CommonJS (`main`): esbuild can then tree-shake
 * the AWS SDK clients and the Kubernetes client to what the handlers import.
 */
export const MAIN_FIELDS = ['module', 'main'];

/**
 * Options for esbuild's JS API (`build({ ...esbuildBuildOptions, entryPoints, outdir })`).
 * Everything is bundled, the AWS SDK included: the versions pinned in package.json are the ones
 * that run, and tree-shaking keeps only the commands used.
 */
export const esbuildBuildOptions = {
  bundle: true,
  platform: 'node',
  target: NODE_TARGET,
  format: 'esm',
  minify: true,
  sourcemap: true,
  sourcesContent: false,
  mainFields: MAIN_FIELDS,
  banner: { js: ESM_REQUIRE_BANNER },
  outExtension: { '.js': '.mjs' },
  legalComments: 'none',
  logLevel: 'warning',
  alias: BUNDLE_ALIASES,
} as const satisfies BuildOptions;

export interface BundleResult {
  readonly outfile: string;
  /** Size of the bundle itself (the source map beside it not counted). */
  readonly bytes: number;
  readonly metafile: Metafile;
}

/** The client-node models of the last bundle built here (see {@link bundleHandler}); not committed. */
/**
 * What the last bundle built here needed from @kubernetes/client-node (see {@link bundleHandler}):
 * its models (`null`: all) and the identifiers of its hand-written client-node modules. Not committed.
 */
const CACHE = path.join(PROJECT_ROOT, 'node_modules', '.cache', 'istio-vm-registrar', 'client-node.json');

interface ClientNodeNeeds {
  readonly models: Set<string> | undefined;
  readonly words: Set<string>;
}

function cachedNeeds(): ClientNodeNeeds {
  try {
    const c = JSON.parse(readFileSync(CACHE, 'utf8')) as { models: string[] | null; words: string[] };
    return { models: c.models === null ? undefined : new Set(c.models), words: new Set(c.words) };
  } catch {
    return { models: new Set(), words: new Set() };
  }
}

function same(a: ReadonlySet<string> | undefined, b: ReadonlySet<string> | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.size === b.size && [...a].every((m) => b.has(m));
}

/**
 * Bundles one handler into `outfile` (+ `outfile.map`) with {@link esbuildBuildOptions} and the
 * plugins of infra/bundle-plugins.ts. What to keep of @kubernetes/client-node (the generated API
 * methods the code can call, the models those (de)serialize) depends on which client-node modules
 * are left after tree-shaking, known only once built: the build starts from what the last bundle
 * needed (usually right, the functions share their adapters), checks it against what it built, and
 * builds again with the right needs when they differ. The output depends on the code only, never on
 * that starting guess.
 */
export async function bundleHandler(entry: string, outfile: string): Promise<BundleResult> {
  const { outExtension: _ext, ...options } = esbuildBuildOptions;
  const project = projectWords(PROJECT_ROOT);
  let needs = cachedNeeds();
  for (let attempt = 1; ; attempt++) {
    const methods = new Set([...project, ...needs.words]);
    let result: Awaited<ReturnType<typeof build<{ metafile: true }>>>;
    try {
      result = await build({
        ...options,
        absWorkingDir: PROJECT_ROOT,
        entryPoints: [entry],
        outfile,
        metafile: true,
        plugins: [requireBuiltins, smithySchemaKeys, kubernetesApis(methods), kubernetesModels(needs.models)],
      });
    } catch (error) {
      // Code importing a model class the guess left out: build once with every model to find out.
      if (needs.models === undefined || attempt > 3) throw error;
      needs = { ...needs, models: undefined };
      continue;
    }
    const words = clientNodeWords(result.metafile, PROJECT_ROOT);
    const models = kubernetesModelsUsed(result.metafile, PROJECT_ROOT, new Set([...project, ...words]));
    if (same(words, needs.words) && same(models, needs.models)) {
      return { outfile, bytes: statSync(outfile).size, metafile: result.metafile };
    }
    if (attempt > 3) throw new Error(`bundling ${entry}: what it needs of client-node does not settle`);
    needs = { models, words };
    mkdirSync(path.dirname(CACHE), { recursive: true });
    writeFileSync(
      CACHE,
      JSON.stringify({ models: models === undefined ? null : [...models].sort(), words: [...words].sort() }),
    );
  }
}
