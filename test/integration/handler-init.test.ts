import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ROOT } from './cli-process.ts';

const exec = promisify(execFile);

/** Imports a handler module as Lambda does at init, in a fresh Node process with `env`. */
async function initialise(fn: 'registrar' | 'reconciler', env: Record<string, string>) {
  const module = join(ROOT, 'functions', fn, 'handler.ts');
  try {
    const { stdout, stderr } = await exec(
      process.execPath,
      ['--input-type=module', '-e', `await import(${JSON.stringify(module)});`],
      {
        cwd: ROOT,
        env: {
          PATH: process.env.PATH ?? '',
          POWERTOOLS_LOG_LEVEL: 'INFO',
          POWERTOOLS_METRICS_DISABLED: 'true',
          ...env,
        },
      },
    );
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('Handlers: configuration is checked at init in Lambda', () => {
  it.each(['registrar', 'reconciler'] as const)(
    'the %s fails its init with one log line naming every problem',
    async (fn) => {
      // Act
      const run = await initialise(fn, {
        AWS_LAMBDA_FUNCTION_NAME: `istio-vm-registrar-${fn}`,
        AWS_REGION: 'us-west-2',
        ALLOWED_NAMESPACES: 'Bad_Namespace',
        KUBE_CONCURRENCY: '0',
      });

      // Assess
      expect(run.code).not.toBe(0);
      // Powertools writes errors to stderr outside Lambda (Lambda captures both streams).
      const lines = `${run.stdout}\n${run.stderr}`
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as { level: string; message: string; error?: { message?: string } });
      const errors = lines.filter((l) => l.level === 'ERROR');
      expect(errors).toHaveLength(1);
      expect(errors[0]!.message).toBe('invalid configuration: fix the function environment');
      expect(errors[0]!.error?.message).toMatch(/ALLOWED_NAMESPACES\.0: .*; KUBE_CONCURRENCY: /);
    },
  );

  it('initialises cleanly with a good configuration', async () => {
    const run = await initialise('registrar', {
      AWS_LAMBDA_FUNCTION_NAME: 'istio-vm-registrar-registrar',
      AWS_REGION: 'us-west-2',
      ALLOWED_NAMESPACES: 'bookinfo',
      KUBECONFIG: join(ROOT, 'test', 'fixtures', 'no-such-kubeconfig'),
    });
    expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
  });
});
