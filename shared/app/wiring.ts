import { SQSClient } from '@aws-sdk/client-sqs';
import { FleetAws } from '../adapters/aws-locations.ts';
import { ContinuationQueue } from '../adapters/continuations.ts';
import { DeadLetters } from '../adapters/dead-letters.ts';
import { kubeConfigSource } from '../adapters/eks-auth.ts';
import { KubeWorkloads } from '../adapters/kube.ts';
import { loadConfig } from '../config/config.ts';
import { logger, type Telemetry, telemetry, tracer } from '../observability.ts';
import { WorkloadGroupCache } from './group-cache.ts';
import { HookTimeoutsCache } from './lifecycle.ts';
import { Registrar, type RegistrarDeps } from './registrar.ts';
import { ServiceUpkeep } from './service-upkeep.ts';
import { ServiceCache } from './services.ts';

/** Everything a function or the CLI needs, built once per process from the configuration. */
export interface AppContext extends Omit<RegistrarDeps, 'logger' | 'telemetry'> {
  readonly registrar: Registrar;
  readonly services: ServiceUpkeep;
  /** Set when DEAD_LETTER_QUEUE_URL is: where records that cannot succeed on retry go at once. */
  readonly deadLetters?: DeadLetters;
}

/**
 * Composition root. The SDK clients honour `AWS_ENDPOINT_URL_EC2` / `AWS_ENDPOINT_URL_AUTO_SCALING` /
 * `AWS_ENDPOINT_URL_STS`
 * (how the tests point them at the local stand-ins) and standard retry with `AWS_MAX_ATTEMPTS`.
 */
export function createApp(
  env: Record<string, string | undefined> = process.env,
  overrides: { telemetry?: Telemetry; now?: () => number } = {},
): AppContext {
  const config = loadConfig(env);
  const t = overrides.telemetry ?? telemetry;
  // Per-attempt bounds, so one hung connection cannot eat the invocation (the invocation's own
  // deadline aborts the whole call through `abortSignal`).
  const requestHandler = { connectionTimeout: 2_000, requestTimeout: 5_000 };
  // The clients of every account/region served (the home's with the process's own credentials, the
  // spokes' through their member role), made on first use and kept with their sessions.
  const aws = new FleetAws({
    fleet: config.fleet,
    ...(config.memberRole ? { memberRole: config.memberRole } : {}),
    requestHandler,
    instrument: (client) => tracer.captureAWSv3Client(client),
  });
  const { ec2, autoscaling, lifecycle } = aws.home;
  const kube = new KubeWorkloads(kubeConfigSource(config.cluster), {
    fieldManager: config.fieldManager,
    requestTimeoutMs: config.kubeRequestTimeoutMs,
    onRetry: (error, attempt) => logger.debug('retrying Kubernetes call', { error: error.message, attempt }),
  });
  const groups = new WorkloadGroupCache(kube, config.workloadGroupCacheTtlMs);
  const services = new ServiceUpkeep({
    defaultServiceMode: config.defaultServiceMode,
    cache: new ServiceCache(config.workloadGroupCacheTtlMs),
    tagPrefix: config.tagPrefix,
    allowedNamespaces: config.allowedNamespaces,
    kubeConcurrency: config.kubeConcurrency,
    logger,
    telemetry: t,
  });
  // One SQS client for both queues the registrar sends to: lifecycle waits park continuations on
  // its own queue, records that cannot succeed go to the dead-letter queue (the SDK sends to the
  // queue URL's host, so a stand-in's URL reaches the stand-in).
  let sqsClient: SQSClient | undefined;
  const sqs = () =>
    (sqsClient ??= tracer.captureAWSv3Client(new SQSClient({ region: config.region, requestHandler })));
  const queue = config.lifecycleQueueUrl ? new ContinuationQueue(sqs(), config.lifecycleQueueUrl) : undefined;
  const now = overrides.now ?? Date.now;
  const registrar = new Registrar({
    config,
    ec2,
    kube,
    lifecycle,
    autoscaling,
    groups,
    services,
    logger,
    telemetry: t,
    ...(queue ? { queue } : {}),
    hookTimeouts: new HookTimeoutsCache(300_000, now),
    now,
    aws,
  });
  const deadLetters = config.deadLetterQueueUrl
    ? new DeadLetters(sqs(), config.deadLetterQueueUrl)
    : undefined;
  return {
    config,
    ec2,
    kube,
    lifecycle,
    autoscaling,
    groups,
    services,
    registrar,
    aws,
    ...(deadLetters ? { deadLetters } : {}),
  };
}
