/**
 * `npm run build`: bundles each Lambda handler exactly as the CDK stack does (infra/bundling.ts)
 * into dist/<function>/index.mjs and prints the sizes. Useful to inspect or upload the artefacts
 * without CDK; `cdk synth` bundles on its own.
 */
import { statSync } from 'node:fs';
import path from 'node:path';
import { build } from 'esbuild';
import {
  entryPath,
  esbuildBuildOptions,
  FUNCTION_ENTRIES,
  type FunctionName,
  PROJECT_ROOT,
} from './bundling.ts';

const { outExtension: _ext, ...options } = esbuildBuildOptions;
for (const fn of Object.keys(FUNCTION_ENTRIES) as FunctionName[]) {
  const outfile = path.join(PROJECT_ROOT, 'dist', fn, 'index.mjs');
  await build({ ...options, entryPoints: [entryPath(fn)], outfile });
  process.stdout.write(
    `${fn}: ${path.relative(PROJECT_ROOT, outfile)} ${(statSync(outfile).size / 1024 / 1024).toFixed(2)} MB\n`,
  );
}
