import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SQSClient } from '@aws-sdk/client-sqs';
import { FleetAws } from '../adapters/aws-locations.ts';
import { ContinuationQueue } from '../adapters/continuations.ts';
import { DeadLetters } from '../adapters/dead-letters.ts';
import { kubeConfigSource } from '../adapters/eks-auth.ts';
import { EventBus } from '../adapters/event-bus.ts';
import { KubeWorkloads } from '../adapters/kube.ts';
import { KubeEventRecorder } from '../adapters/kube-events.ts';
import { measureSdkCalls } from '../adapters/sdk-latency.ts';
import { loadConfig, type RegistrarConfig } from '../config/config.ts';
import { MANAGED_BY_VALUE, Metric } from '../constants.ts';
import { EVENT_SOURCE } from '../domain/notifications.ts';
import { logger, MetricsTelemetry, type Telemetry, telemetry, tracer } from '../observability.ts';
import { WorkloadGroupCache } from './group-cache.ts';
import { HookTimeoutsCache } from './lifecycle.ts';
import { Notifier } from './notifier.ts';
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
  if (t instanceof MetricsTelemetry) t.setMaxWorkloadGroups(config.metricsMaxWorkloadGroups);
  // Per-attempt bounds, so one hung connection cannot eat the invocation (the invocation's own
  // deadline aborts the whole call through `abortSignal`).
  const requestHandler = { connectionTimeout: 2_000, requestTimeout: 5_000 };
  // The clients of every account/region served (the home's with the process's own credentials, the
  // spokes' through their member role), made on first use and kept with their sessions.
  const aws = new FleetAws({
    fleet: config.fleet,
    ...(config.memberRole ? { memberRole: config.memberRole } : {}),
    requestHandler,
    instrument: (client) =>
      tracer.captureAWSv3Client(
        measureSdkCalls(client, (operation, ms) =>
          t.milliseconds(Metric.Ec2Latency, ms, { Operation: operation }),
        ),
      ),
  });
  const { ec2, autoscaling, lifecycle } = aws.home;
  const kube = new KubeWorkloads(kubeConfigSource(config.cluster), {
    fieldManager: config.fieldManager,
    requestTimeoutMs: config.kubeRequestTimeoutMs,
    onRetry: (error, attempt) => logger.debug('retrying Kubernetes call', { error: error.message, attempt }),
    onCall: (operation, ms) => t.milliseconds(Metric.KubernetesLatency, ms, { Operation: operation }),
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
  const notifier = createNotifier(config, kube, t, requestHandler);
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
    notifier,
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
    notifier,
    ...(deadLetters ? { deadLetters } : {}),
  };
}

/**
 * Kubernetes Events (KUBE_EVENTS) and EventBridge events (EVENT_BUS). `reportingInstance` names the
 * function and its container (the log stream's id), so two containers' Events are told apart.
 */
function createNotifier(
  config: RegistrarConfig,
  kube: KubeWorkloads,
  t: Telemetry,
  requestHandler: { connectionTimeout: number; requestTimeout: number },
): Notifier {
  const container = (process.env.AWS_LAMBDA_LOG_STREAM_NAME ?? '').replace(/^.*\]/, '').slice(0, 8);
  const instance = [
    process.env.AWS_LAMBDA_FUNCTION_NAME ?? 'vm-registrar',
    container || String(process.pid),
  ].join('-');
  const recorder =
    config.kubeEvents === 'none'
      ? undefined
      : new KubeEventRecorder(kube, { reportingController: MANAGED_BY_VALUE, reportingInstance: instance });
  const bus = config.eventBus
    ? new EventBus(
        tracer.captureAWSv3Client(
          new EventBridgeClient({ region: busRegion(config.eventBus, config.region), requestHandler }),
        ),
        config.eventBus,
        { source: EVENT_SOURCE },
      )
    : undefined;
  return new Notifier({
    ...(recorder ? { recorder } : {}),
    entryEvents: config.kubeEvents === 'all',
    ...(bus ? { bus } : {}),
    telemetry: t,
    logger,
  });
}

/** A bus ARN names its region (a central bus elsewhere); a name is in the function's own. */
function busRegion(bus: string, region: string): string {
  return /^arn:[^:]+:events:([^:]+):/.exec(bus)?.[1] ?? region;
}
