/**
 * `npm run bench -- servicesBurst`: the burst of 1,000 launch events with a Service and direct
 * EndpointSlices on, against the same burst without them, in one run: the extra Kubernetes requests
 * (and writes) per event the Services cost on the event path, and the throughput with them.
 */
import { stateChange } from '../helpers/fixtures.ts';
import { instance, NAMESPACE, reviewsGroup } from '../helpers/harness.ts';
import { startRemoteHarness } from './remote-harness.ts';

type Record3 = (what: string, value: string, target: string) => void;

const id = (n: number) => `i-${n.toString(16).padStart(17, '0')}`;

async function burstOnce(annotations: Record<string, string>, batch: number) {
  // As deployed: a 30 s WorkloadGroup (and Service) cache.
  const h = await startRemoteHarness({ WORKLOAD_GROUP_CACHE_TTL_SECONDS: '30' });
  try {
    await h.kube('seed', reviewsGroup({ annotations }));
    await h.aws(
      'putMany',
      Array.from({ length: 1000 }, (_, i) =>
        instance(id(i + 1), { privateIpAddress: `10.1.${(i + 1) >> 8}.${(i + 1) & 255}` }),
      ),
    );
    await h.kube('resetStats');
    const t = performance.now();
    for (let b = 0; b < 1000 / batch; b++) {
      const r = await h.send(
        Array.from({ length: batch }, (_, i) => stateChange(id(b * batch + i + 1), 'running')),
      );
      if (r.batchItemFailures.length) throw new Error('unexpected failure');
    }
    const eventsPerSecond = 1000 / ((performance.now() - t) / 1000);
    const stats = (await h.kube('stats')) as {
      total: number;
      writes: number;
      byVerb: Record<string, number>;
    };
    const slices = (await h.kube('list', 'discovery.k8s.io/v1', 'EndpointSlice', NAMESPACE)) as Array<{
      endpoints?: unknown[];
    }>;
    return { eventsPerSecond, stats, endpoints: slices.reduce((n, s) => n + (s.endpoints?.length ?? 0), 0) };
  } finally {
    await h.close();
  }
}

export async function servicesBurst(record: Record3, batch: number): Promise<void> {
  process.stderr.write('burst of 1,000 launch events with a Service and direct EndpointSlices\n');
  const plain = await burstOnce({}, batch);
  const withServices = await burstOnce(
    {
      'istio-vm-registrar.io/service': 'service',
      'istio-vm-registrar.io/direct-endpoints': 'true',
    },
    batch,
  );
  if (withServices.endpoints !== 1000)
    throw new Error(`expected 1000 direct endpoints, got ${withServices.endpoints}`);
  const per = (n: number) => (n / 1000).toFixed(3);
  record(
    `burst with Service + direct slices (batches of ${batch})`,
    `${withServices.eventsPerSecond.toFixed(0)} events/s (without: ${plain.eventsPerSecond.toFixed(0)})`,
    'reference',
  );
  record(
    'extra Kubernetes requests per event',
    `${per(withServices.stats.total - plain.stats.total)} (writes ${per(withServices.stats.writes - plain.stats.writes)})`,
    'reference',
  );
  process.stderr.write(
    `  Kubernetes requests by verb without Services ${JSON.stringify(plain.stats.byVerb)}, with ${JSON.stringify(withServices.stats.byVerb)}\n`,
  );
}
