/**
 * Bundles the Lambda handlers exactly as the CDK stack does (infra/bundling.ts).
 *
 * - `npm run build`: every handler into dist/<function>/index.mjs, with the sizes printed.
 * - `node infra/bundle.ts <function> <outdir>`: one handler into <outdir>/index.mjs; what the CDK
 *   functions run to build their asset (infra/constructs/node-function.ts).
 */
import path from 'node:path';
import { bundleHandler, entryPath, FUNCTION_ENTRIES, type FunctionName, PROJECT_ROOT } from './bundling.ts';

const [only, outdir] = process.argv.slice(2);
const names = Object.keys(FUNCTION_ENTRIES) as FunctionName[];
if (only !== undefined && !names.includes(only as FunctionName)) {
  process.stderr.write(`usage: node infra/bundle.ts [${names.join('|')} <outdir>]\n`);
  process.exit(64);
}
for (const fn of only === undefined ? names : [only as FunctionName]) {
  const outfile = path.join(outdir ?? path.join(PROJECT_ROOT, 'dist', fn), 'index.mjs');
  const { bytes } = await bundleHandler(entryPath(fn), outfile);
  process.stdout.write(
    `${fn}: ${path.relative(process.cwd(), outfile)} ${(bytes / 1024 / 1024).toFixed(2)} MB\n`,
  );
}
