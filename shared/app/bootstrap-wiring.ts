import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { SSMClient } from '@aws-sdk/client-ssm';
import { resolveIpv4 } from '../adapters/dns.ts';
import { kubeConfigSource } from '../adapters/eks-auth.ts';
import { KubeBootstrap } from '../adapters/kube-bootstrap.ts';
import { BootstrapParameters } from '../adapters/parameters.ts';
import { type BootstrapConfig, loadBootstrapConfig } from '../config/bootstrap-config.ts';
import { logger, metrics, telemetry, tracer } from '../observability.ts';
import { type BootstrapDeps, BootstrapRefresher, type BootstrapTelemetry } from './bootstrap.ts';

/** Counts through the shared telemetry; the seconds-left gauge straight to Powertools metrics. */
export const bootstrapTelemetry: BootstrapTelemetry = {
  count: (name, value, dimension) => telemetry.count(name, value, dimension),
  seconds: (name, value) => metrics.addMetric(name, MetricUnit.Seconds, value),
};

export interface BootstrapApp {
  readonly config: BootstrapConfig;
  readonly refresher: BootstrapRefresher;
}

/**
 * Composition root of the bootstrap function and `vm-registrar bootstrap refresh`. The SSM client
 * honours `AWS_ENDPOINT_URL_SSM`; tests replace any dependency.
 */
export function createBootstrapApp(
  env: Record<string, string | undefined> = process.env,
  overrides: Partial<Omit<BootstrapDeps, 'config'>> & { ssm?: SSMClient } = {},
): BootstrapApp {
  const config = loadBootstrapConfig(env);
  const requestHandler = { connectionTimeout: 2_000, requestTimeout: 5_000 };
  const ssm =
    overrides.ssm ?? tracer.captureAWSv3Client(new SSMClient({ region: config.region, requestHandler }));
  const refresher = new BootstrapRefresher({
    config,
    kube:
      overrides.kube ??
      KubeBootstrap.connect(kubeConfigSource(config.cluster), {
        requestTimeoutMs: config.kubeRequestTimeoutMs,
      }),
    parameters: overrides.parameters ?? new BootstrapParameters(ssm),
    resolve: overrides.resolve ?? resolveIpv4,
    logger: overrides.logger ?? logger,
    telemetry: overrides.telemetry ?? bootstrapTelemetry,
    ...(overrides.now ? { now: overrides.now } : {}),
  });
  return { config, refresher };
}
