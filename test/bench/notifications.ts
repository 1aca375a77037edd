/**
 * `npm run bench -- notificationsBurst`: the burst of 1,000 launch events with the notifications
 * off (KUBE_EVENTS=none, no EVENT_BUS), with the deployed default (Kubernetes Events on the group and
 * the entry), and with an EventBridge bus as well, in one run: what observability costs the event
 * path in throughput and in Kubernetes requests per event.
 */
import { stateChange } from '../helpers/fixtures.ts';
import { instance, reviewsGroup } from '../helpers/harness.ts';
import { startRemoteHarness } from './remote-harness.ts';

type Record3 = (what: string, value: string, target: string) => void;

const id = (n: number) => `i-${n.toString(16).padStart(17, '0')}`;
const BUS = 'mesh-events';

async function burstOnce(env: Record<string, string>, batch: number) {
  // As deployed: a 30 s WorkloadGroup cache.
  const h = await startRemoteHarness({ WORKLOAD_GROUP_CACHE_TTL_SECONDS: '30', ...env });
  try {
    await h.kube('seed', reviewsGroup());
    await h.aws('createEventBus', BUS);
    await h.aws(
      'putMany',
      Array.from({ length: 1000 }, (_, i) => instance(id(i + 1))),
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
    const stats = (await h.kube('stats')) as { total: number; writes: number };
    const published = ((await h.aws('publishedEvents')) as unknown[]).length;
    return { eventsPerSecond, stats, published };
  } finally {
    await h.close();
    delete process.env.EVENT_BUS;
    delete process.env.KUBE_EVENTS;
  }
}

export async function notificationsBurst(record: Record3, batch: number): Promise<void> {
  process.stderr.write(
    'burst of 1,000 launch events: notifications off, Kubernetes Events, and an EventBridge bus\n',
  );
  const off = await burstOnce({ KUBE_EVENTS: 'none' }, batch);
  const kubeEvents = await burstOnce({ KUBE_EVENTS: 'all' }, batch);
  const both = await burstOnce({ KUBE_EVENTS: 'all', EVENT_BUS: BUS }, batch);
  if (both.published !== 1000) throw new Error(`expected 1000 published events, got ${both.published}`);
  const per = (n: number) => (n / 1000).toFixed(2);
  record(
    `burst, notifications off (batches of ${batch})`,
    `${off.eventsPerSecond.toFixed(0)} events/s`,
    'reference',
  );
  record(
    'burst, Kubernetes Events on (KUBE_EVENTS=all, the default)',
    `${kubeEvents.eventsPerSecond.toFixed(0)} events/s, +${per(kubeEvents.stats.total - off.stats.total)} requests/event (writes +${per(kubeEvents.stats.writes - off.stats.writes)})`,
    'reference',
  );
  record(
    'burst, Kubernetes Events and EventBridge (EVENT_BUS)',
    `${both.eventsPerSecond.toFixed(0)} events/s, ${both.published} events published`,
    'reference',
  );
}
