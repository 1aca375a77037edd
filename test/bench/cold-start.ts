import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { entryPath, esbuildBuildOptions, FUNCTION_ENTRIES, type FunctionName } from '../../infra/bundling.ts';

export interface ColdStartResult {
  readonly fn: string;
  readonly bytes: number;
  readonly initMs: { p50: number; min: number; max: number };
}

/**
 * Bundles each handler with the deployed esbuild options and measures its size and the time to
 * import it in a fresh Node process (module init, what a Lambda cold start pays before the handler).
 */
export async function measureColdStart(runs = 7): Promise<ColdStartResult[]> {
  const dir = mkdtempSync(join(tmpdir(), 'vm-registrar-bundle-'));
  try {
    const results: ColdStartResult[] = [];
    for (const fn of Object.keys(FUNCTION_ENTRIES) as FunctionName[]) {
      const outfile = join(dir, `${fn}.mjs`);
      const { outExtension: _ext, ...options } = esbuildBuildOptions;
      await build({ ...options, entryPoints: [entryPath(fn)], outfile });
      const bytes = statSync(outfile).size;
      const times: number[] = [];
      for (let i = 0; i < runs; i++) {
        const script = `const t=performance.now();await import(${JSON.stringify(outfile)});process.stdout.write(String(performance.now()-t));`;
        const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
          env: {
            PATH: process.env.PATH,
            AWS_REGION: 'us-west-2',
            ALLOWED_NAMESPACES: 'bookinfo',
            POWERTOOLS_TRACE_ENABLED: 'true',
          },
        });
        times.push(Number(out.toString()));
      }
      times.sort((a, b) => a - b);
      results.push({
        fn,
        bytes,
        initMs: { p50: times[Math.floor(times.length / 2)]!, min: times[0]!, max: times[times.length - 1]! },
      });
    }
    return results;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
