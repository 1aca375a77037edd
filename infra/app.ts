/**
 * CDK entry point (cdk.json "app": "node infra/app.ts"). Configuration is CDK context: the
 * "context" block of cdk.json and `-c key=value`; see docs/deployment.md.
 *
 *   npx cdk synth                                  # single-network (cdk.json defaults)
 *   npx cdk synth -c architecture=multi-network
 *
 * It also runs without the CDK CLI, reading cdk.json itself and `-c key=value` from its own
 * arguments, and writing the assembly to cdk.out:
 *
 *   npx node infra/app.ts -c architecture=multi-network
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { buildApp } from './build-app.ts';
import { PROJECT_ROOT } from './bundling.ts';
import { ContextError } from './context.ts';

try {
  const runByCli = process.env.CDK_OUTDIR !== undefined;
  const app = new App({
    // Under the CLI these are defaults only: the CLI's context (cdk.json + -c) overrides them.
    context: { ...cdkJsonContext(), ...contextArguments(process.argv.slice(2)) },
    ...(runByCli ? {} : { outdir: path.join(PROJECT_ROOT, 'cdk.out') }),
  });
  buildApp(app);
  // cdk-nag v3 is a policy-validation plugin: any unacknowledged AwsSolutions finding fails synth.
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  app.synth();
} catch (error) {
  // A configuration mistake is the user's to fix and its message says how: print it alone. Anything
  // else is a bug here, and keeps its stack trace.
  if (!isConfigurationError(error)) throw error;
  process.stderr.write(`${error.message}\n`);
  process.exitCode = 1;
}

function isConfigurationError(error: unknown): error is Error {
  return (
    error instanceof ContextError ||
    (error instanceof Error &&
      (/^\w+ \([^)]*\): invalid configuration: /.test(error.message) ||
        error.message.startsWith('infra/app.ts: ')))
  );
}

function cdkJsonContext(): Record<string, unknown> {
  const file = JSON.parse(readFileSync(path.join(PROJECT_ROOT, 'cdk.json'), 'utf8')) as { context?: object };
  return { ...file.context };
}

/** `-c key=value` / `--context key=value` pairs, as the CDK CLI accepts them. */
function contextArguments(args: readonly string[]): Record<string, string> {
  const context: Record<string, string> = {};
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const inline = /^--context=(.*)$/.exec(arg)?.[1];
    const pair = inline ?? (arg === '-c' || arg === '--context' ? args[++i] : undefined);
    if (pair === undefined) throw new Error(`infra/app.ts: unexpected argument "${arg}" (only -c key=value)`);
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new Error(`infra/app.ts: context "${pair}" is not key=value`);
    context[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return context;
}
