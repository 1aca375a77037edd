import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Tracer } from '@aws-lambda-powertools/tracer';
import type middy from '@middy/core';
import { METRICS_NAMESPACE, type MetricName } from './constants.ts';

const serviceName = process.env.POWERTOOLS_SERVICE_NAME ?? 'istio-vm-registrar';

/** One logger, one metrics buffer and one tracer per process, shared by every module. */
export const logger = new Logger({ serviceName });
export const metrics = new Metrics({
  serviceName,
  namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? METRICS_NAMESPACE,
});

/**
 * Whether Powertools' Tracer would trace in this environment, by its own rule: in a Lambda
 * execution environment (not SAM local, not the Amplify mock) unless POWERTOOLS_TRACE_ENABLED=false.
 */
export function tracingEnabled(env: Record<string, string | undefined> = process.env): boolean {
  const executionEnv = env.AWS_EXECUTION_ENV ?? '';
  return (
    (env.POWERTOOLS_TRACE_ENABLED ?? '').toLowerCase() !== 'false' &&
    executionEnv !== '' &&
    executionEnv !== 'AWS_Lambda_amplify-mock' &&
    (env.AWS_SAM_LOCAL ?? '') === ''
  );
}

/**
 * Powertools' Tracer, loaded only when tracing is on: the X-Ray SDK behind it turns on async-hooks
 * context tracking for every promise as soon as it is imported, which the CLI, the tests and a
 * function with tracing off would pay for nothing (docs/benchmarks.md).
 */
const xray: Tracer | undefined = tracingEnabled()
  ? new (await import('@aws-lambda-powertools/tracer')).Tracer({ serviceName })
  : undefined;

/** What the code needs from the tracer; a pass-through when tracing is off. */
export const tracer = {
  enabled: xray !== undefined,
  /** Traces the calls of an AWS SDK v3 client (subsegments per call). */
  captureAWSv3Client<T>(client: T): T {
    return xray ? xray.captureAWSv3Client(client) : client;
  },
};

/** The handler's tracing middleware (a segment per invocation), or one that does nothing. */
export async function tracingMiddleware(options?: {
  captureResponse?: boolean;
}): Promise<middy.MiddlewareObj> {
  if (!xray) return { before: () => {} };
  const { captureLambdaHandler } = await import('@aws-lambda-powertools/tracer/middleware');
  return captureLambdaHandler(xray, options);
}

/** What the application layer needs from metrics: counts, optionally with one extra dimension. */
export interface Telemetry {
  count(name: MetricName, value?: number, dimension?: { name: string; value: string }): void;
  milliseconds(name: MetricName, value: number): void;
}

export const telemetry: Telemetry = {
  count(name, value = 1, dimension) {
    if (value === 0) return;
    if (dimension) {
      metrics
        .singleMetric()
        .addDimension(dimension.name, dimension.value)
        .addMetric(name, MetricUnit.Count, value);
    } else {
      metrics.addMetric(name, MetricUnit.Count, value);
    }
  },
  milliseconds(name, value) {
    metrics.addMetric(name, MetricUnit.Milliseconds, value);
  },
};
