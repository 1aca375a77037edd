import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  bundleHandler,
  entryPath,
  FUNCTION_ENTRIES,
  type FunctionName,
  LAMBDA_NODE_OPTIONS,
} from '../../infra/bundling.ts';

export interface InitTimes {
  readonly p50: number;
  readonly min: number;
  readonly max: number;
}

export interface ColdStartResult {
  readonly fn: string;
  readonly bytes: number;
  readonly sourceMapBytes: number;
  /** Module init with the deployed NODE_OPTIONS (source maps on). */
  readonly initMs: InitTimes;
  /** The same without `--enable-source-maps`: what the source maps cost. */
  readonly initWithoutSourceMapsMs: InitTimes;
  /** Minified bytes per package (node_modules) or project folder, largest first. */
  readonly byPackage: ReadonlyArray<readonly [string, number]>;
}

function importTimes(outfile: string, nodeOptions: string, runs: number): InitTimes {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const script = `const t=performance.now();await import(${JSON.stringify(outfile)});process.stdout.write(String(performance.now()-t));`;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
      // As Lambda starts the function: NODE_OPTIONS from the environment, tracing on (the CDK
      // functions have active tracing), the configuration a deployed function has.
      env: {
        PATH: process.env.PATH,
        NODE_OPTIONS: nodeOptions,
        AWS_REGION: 'us-west-2',
        ALLOWED_NAMESPACES: 'bookinfo',
        AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs24.x',
        AWS_LAMBDA_FUNCTION_NAME: 'vm-registrar-cold-start',
      },
    });
    times.push(Number(out.toString()));
  }
  times.sort((a, b) => a - b);
  return { p50: times[Math.floor(times.length / 2)]!, min: times[0]!, max: times[times.length - 1]! };
}

/**
 * Bundles each handler as it is deployed (infra/bundling.ts) and measures its size and the time to
 * import it in a fresh Node process (module init, what a Lambda cold start pays before the
 * handler), with the deployed NODE_OPTIONS and, for comparison, without source maps.
 */
export async function measureColdStart(runs = 7): Promise<ColdStartResult[]> {
  const dir = mkdtempSync(join(tmpdir(), 'vm-registrar-bundle-'));
  try {
    const results: ColdStartResult[] = [];
    for (const fn of Object.keys(FUNCTION_ENTRIES) as FunctionName[]) {
      const outfile = join(dir, `${fn}.mjs`);
      const { bytes, metafile } = await bundleHandler(entryPath(fn), outfile);
      const byPackage = new Map<string, number>();
      const output = Object.values(metafile.outputs).find((o) => o.entryPoint !== undefined)!;
      for (const [file, input] of Object.entries(output.inputs)) {
        const pkg =
          /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(file)?.[1] ?? file.split('/').slice(0, 2).join('/');
        byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + input.bytesInOutput);
      }
      results.push({
        fn,
        bytes,
        sourceMapBytes: statSync(`${outfile}.map`).size,
        initMs: importTimes(outfile, LAMBDA_NODE_OPTIONS, runs),
        initWithoutSourceMapsMs: importTimes(
          outfile,
          LAMBDA_NODE_OPTIONS.replace('--enable-source-maps', '').trim(),
          runs,
        ),
        byPackage: [...byPackage].sort((a, b) => b[1] - a[1]),
      });
    }
    return results;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
