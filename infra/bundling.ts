/**
 * One definition of how the Lambda handlers are bundled, shared by the CDK functions
 * (`lambdaBundlingOptions`, for NodejsFunction) and by anything that calls esbuild directly
 * (`esbuildBuildOptions`: `npm run build`, bundle-size benchmarks), so the bundle measured is
 * the bundle deployed.
 */
import path from 'node:path';
import { type BundlingOptions, OutputFormat, SourceMapMode } from 'aws-cdk-lib/aws-lambda-nodejs';
import type { BuildOptions } from 'esbuild';

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

/** The same options for `NodejsFunction` (local esbuild, never Docker). */
export const lambdaBundlingOptions: BundlingOptions = {
  forceDockerBundling: false,
  format: OutputFormat.ESM,
  target: NODE_TARGET,
  minify: esbuildBuildOptions.minify,
  sourceMap: esbuildBuildOptions.sourcemap,
  sourceMapMode: SourceMapMode.DEFAULT,
  sourcesContent: esbuildBuildOptions.sourcesContent,
  mainFields: MAIN_FIELDS,
  banner: ESM_REQUIRE_BANNER,
  bundleAwsSDK: true,
  externalModules: [],
  esbuildArgs: Object.fromEntries(
    Object.entries(BUNDLE_ALIASES).map(([from, to]) => [`--alias:${from}`, to]),
  ),
};
