import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SQSBatchResponse } from 'aws-lambda';
import { afterEach, beforeEach, vi } from 'vitest';
import { handler, resetApp } from '../../functions/registrar/handler.ts';
import { cliContext } from '../../shared/cli/replay.ts';
import type { WorkloadEntryObject } from '../../shared/domain/types.ts';
import { type AwsApiStandIn, type FakeInstance, startAwsApi } from '../standins/aws-api/index.ts';
import { type KubeApiStandIn, startKubeApi } from '../standins/kube-api/index.ts';
import { sqsEvent } from './fixtures.ts';

export const NAMESPACE = 'bookinfo';
export const GROUP_TAG = 'istio-vm/workload-group';

/** The sample WorkloadGroup the tests register instances into. */
export function reviewsGroup(
  overrides: {
    name?: string;
    namespace?: string;
    spec?: Record<string, unknown>;
    annotations?: Record<string, string>;
  } = {},
) {
  return {
    apiVersion: 'networking.istio.io/v1',
    kind: 'WorkloadGroup',
    metadata: {
      name: overrides.name ?? 'reviews',
      namespace: overrides.namespace ?? NAMESPACE,
      ...(overrides.annotations ? { annotations: overrides.annotations } : {}),
    },
    spec: overrides.spec ?? {
      metadata: { labels: { app: 'reviews', version: 'v1' } },
      template: { ports: { http: 9080 }, serviceAccount: 'reviews' },
    },
  };
}

/** A running instance of `bookinfo/reviews` in my-asg. */
export function instance(instanceId: string, overrides: Partial<FakeInstance> = {}): FakeInstance {
  const n = Number.parseInt(instanceId.slice(-2), 16) % 250;
  return {
    instanceId,
    state: 'running',
    privateIpAddress: `10.0.7.${n + 1}`,
    availabilityZone: 'us-west-2b',
    launchTime: '2026-11-26T09:00:00.000Z',
    tags: { [GROUP_TAG]: `${NAMESPACE}/reviews`, 'aws:autoscaling:groupName': 'my-asg' },
    ...overrides,
  };
}

export interface Harness {
  readonly kube: KubeApiStandIn;
  readonly aws: AwsApiStandIn;
  /** Sends SQS bodies through the real registrar handler as one batch. */
  send(bodies: readonly string[]): Promise<SQSBatchResponse>;
  /** Invokes the handler with any event (a direct EventBridge event, say). */
  invoke(event: unknown): Promise<unknown>;
  entries(namespace?: string): WorkloadEntryObject[];
  close(): Promise<void>;
}

/**
 * Both stand-ins on loopback, the environment pointing the real SDK clients and client-node at
 * them, and the handler's wiring reset so it reads that environment.
 */
export async function startHarness(
  env: Record<string, string> = {},
  options: { now?: () => number } = {},
): Promise<Harness> {
  const kube = await startKubeApi({ namespaces: ['default', NAMESPACE, 'other'] });
  const aws = await startAwsApi({ region: 'us-west-2', ...(options.now ? { now: options.now } : {}) });
  const dir = mkdtempSync(join(tmpdir(), 'vm-registrar-test-'));
  const kubeconfig = join(dir, 'kubeconfig');
  kube.writeKubeconfig(kubeconfig);
  const saved = { ...process.env };
  Object.assign(process.env, aws.env(), {
    KUBECONFIG: kubeconfig,
    ALLOWED_NAMESPACES: `${NAMESPACE},other`,
    AWS_REGION: 'us-west-2',
    WORKLOAD_GROUP_CACHE_TTL_SECONDS: '0',
    // The hooks named in the verbatim AWS samples are ours in these tests.
    LIFECYCLE_HOOK_NAMES: 'my-lifecycle-hook,my-launch-lifecycle-hook,my-hook',
    ...env,
  });
  delete process.env.CLUSTER_NAME;
  resetApp();
  let batch = 0;
  return {
    kube,
    aws,
    send: async (bodies) =>
      (await handler(sqsEvent(bodies, `batch${++batch}`), cliContext('registrar-test'))) as SQSBatchResponse,
    invoke: (event) => handler(event, cliContext('registrar-test')),
    entries: (namespace = NAMESPACE) =>
      kube.list('networking.istio.io/v1', 'WorkloadEntry', namespace) as unknown as WorkloadEntryObject[],
    close: async () => {
      resetApp();
      process.env = saved;
      await Promise.all([kube.close(), aws.close()]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Registers `beforeEach`/`afterEach` hooks that give every test a fresh harness with the sample
 * WorkloadGroup, and returns it (a stand-in for the current one). `restart(env)` replaces it with
 * one started with another environment.
 */
export function useHarness(
  env: Record<string, string> = {},
): Harness & { restart(env: Record<string, string>): Promise<void> } {
  let current: Harness | undefined;
  const start = async (withEnv: Record<string, string>) => {
    current = await startHarness(withEnv);
    current.kube.seed(reviewsGroup());
  };
  beforeEach(() => start(env));
  afterEach(async () => {
    vi.restoreAllMocks();
    await current?.close();
    current = undefined;
  });
  const restart = async (next: Record<string, string>) => {
    await current?.close();
    await start(next);
  };
  return new Proxy({} as Harness & { restart: typeof restart }, {
    get: (_target, property) => {
      if (property === 'restart') return restart;
      if (!current) throw new Error('the harness exists only inside a test');
      return Reflect.get(current, property);
    },
  });
}
