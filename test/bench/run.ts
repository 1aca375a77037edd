/**
 * `npm run bench`: measures the targets in README/docs/benchmarks.md against the local stand-ins
 * and prints a table. Numbers, not pass/fail: nothing here fails on a slow machine.
 */
import './env.ts';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CustomObjectsApi, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { bundleHandler, LAMBDA_NODE_OPTIONS } from '../../infra/bundling.ts';
import { PooledKubeConfig } from '../../shared/adapters/pooled-kubeconfig.ts';
import type { WorkloadGroupView } from '../../shared/domain/types.ts';
import { renderWorkloadEntry } from '../../shared/domain/workload-entry.ts';
import { logger } from '../../shared/observability.ts';
import { stateChange } from '../helpers/fixtures.ts';
import { instance, NAMESPACE, reviewsGroup } from '../helpers/harness.ts';
import { type LatencyModel, REAL_APISERVER_LATENCY } from '../standins/kube-api/index.ts';
import { measureColdStart } from './cold-start.ts';
import { notificationsBurst } from './notifications.ts';
import { type RemoteHarness, startRemoteHarness } from './remote-harness.ts';
import { servicesBurst } from './services.ts';

const run = promisify(execFile);
// As deployed: a 30 s WorkloadGroup cache.
const BENCH_ENV = { WORKLOAD_GROUP_CACHE_TTL_SECONDS: '30' };
/** Records per SQS batch in the burst: 10 is the event source mapping's default (BENCH_BATCH overrides). */
const BATCH = Number(process.env.BENCH_BATCH ?? 10);
const id = (n: number) => `i-${n.toString(16).padStart(17, '0')}`;
const rows: Array<[string, string, string]> = [];
/** The section each row was measured in (for --out). */
const sections_: string[] = [];
let section = '';
const record = (what: string, value: string, target: string) => {
  rows.push([what, value, target]);
  sections_.push(section);
  process.stderr.write(`  ${what}: ${value}\n`);
};
const pct = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
const fmt = (ms: number) => `${ms.toFixed(1)} ms`;

function kubeApi(h: RemoteHarness): CustomObjectsApi {
  // Pooled connections, as the registrar uses: the raw number is the stand-in's, not client-node's.
  const kc = new PooledKubeConfig();
  kc.loadFromString(h.kubeconfigYaml);
  return kc.makeApiClient(CustomObjectsApi);
}

async function singleEvent() {
  process.stderr.write('one event, handler work only\n');
  const h = await startRemoteHarness(BENCH_ENV);
  try {
    await h.kube('seed', reviewsGroup());
    const times: number[] = [];
    for (let n = 1; n <= 400; n++) {
      await h.aws('putInstance', instance(id(n)));
      const t = performance.now();
      const r = await h.send([stateChange(id(n), 'running')]);
      times.push(performance.now() - t);
      if (r.batchItemFailures.length) throw new Error('unexpected failure');
    }
    const warm = times.slice(20).sort((a, b) => a - b);
    record('one launch event: p50', fmt(pct(warm, 50)), '<= 15 ms');
    record('one launch event: p99', fmt(pct(warm, 99)), '<= 60 ms');
  } finally {
    await h.close();
  }
}

/**
 * 1,000 launch events through the handler, then the stand-in's own raw apply throughput at the same
 * concurrency (10 in flight), in the same run. `latency`: the stand-in's cost model, if any.
 */
async function burstAgainst(label: string, latency: LatencyModel | undefined) {
  const h = await startRemoteHarness(BENCH_ENV);
  try {
    await h.kube('seed', reviewsGroup());
    if (latency) await h.kube('setLatency', latency);
    await h.aws(
      'putMany',
      Array.from({ length: 1000 }, (_, i) => instance(id(i + 1))),
    );
    await h.kube('resetStats');
    const t = performance.now();
    for (let b = 0; b < 1000 / BATCH; b++) {
      const r = await h.send(
        Array.from({ length: BATCH }, (_, i) => stateChange(id(b * BATCH + i + 1), 'running')),
      );
      if (r.batchItemFailures.length) throw new Error('unexpected failure');
    }
    const eventsPerSecond = 1000 / ((performance.now() - t) / 1000);
    const requests = (await h.kube('stats')) as { byVerb: Record<string, number> };
    const count = await h.entryCount();
    if (count !== 1000) throw new Error(`expected 1000 entries, got ${count}`);

    // The stand-in's own raw apply throughput, same run, same concurrency (10 in flight).
    const api = kubeApi(h);
    const group = (await h.kube('get', 'networking.istio.io/v1', 'WorkloadGroup', NAMESPACE, 'reviews')) as {
      metadata: { uid: string };
    };
    const view: WorkloadGroupView = {
      namespace: NAMESPACE,
      name: 'raw',
      uid: group.metadata.uid!,
      apiVersion: 'networking.istio.io/v1',
      annotations: {},
      entryMetadata: { labels: {}, annotations: {} },
      template: { ports: { http: 9080 } },
    };
    const bodies = Array.from({ length: 1000 }, (_, i) => {
      const r = renderWorkloadEntry({ ...instance(id(5000 + i)), region: 'us-west-2' }, view);
      if (!r.ok) throw new Error(r.refusal.message);
      return r.entry;
    });
    const t2 = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: 10 }, async () => {
        while (next < bodies.length) {
          const body = bodies[next++]!;
          await api.patchNamespacedCustomObject(
            {
              group: 'networking.istio.io',
              version: 'v1',
              namespace: NAMESPACE,
              plural: 'workloadentries',
              name: body.metadata.name,
              body,
              fieldManager: 'bench',
            },
            setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply),
          );
        }
      }),
    );
    const raw = 1000 / ((performance.now() - t2) / 1000);
    const verbs = Object.entries(requests.byVerb)
      .map(([verb, n]) => `${verb} ${n}`)
      .join(', ');
    process.stderr.write(`  burst ${label}: Kubernetes requests ${verbs}\n`);
    record(
      `burst of 1,000 launches (batches of ${BATCH}), ${label}`,
      `${eventsPerSecond.toFixed(0)} events/s`,
      latency ? 'reference' : '>= 300 events/s',
    );
    record(
      `stand-in raw apply throughput (10 in flight), ${label}`,
      `${raw.toFixed(0)} applies/s`,
      'reference',
    );
    record(
      `burst / raw apply, ${label}`,
      `${((eventsPerSecond / raw) * 100).toFixed(0)} %`,
      latency ? '>= 80 %' : 'reference',
    );
  } finally {
    await h.close();
  }
}

async function burst() {
  process.stderr.write('burst of 1,000 launch events, raw stand-in\n');
  await burstAgainst('raw stand-in', undefined);
  process.stderr.write(
    `burst of 1,000 launch events, stand-in latency model (reads ${REAL_APISERVER_LATENCY.readMs} ms, writes ${REAL_APISERVER_LATENCY.writeMs} ms, ${REAL_APISERVER_LATENCY.writeConcurrency} at once)\n`,
  );
  await burstAgainst('latency model', REAL_APISERVER_LATENCY);
}

async function reconcileAtScale() {
  process.stderr.write('reconcile 10,000 instances / 10,000 entries\n');
  const h = await startRemoteHarness({
    ...BENCH_ENV,
    RECONCILE_MAX_DELETE_RATIO: '0.5',
    KUBE_CONCURRENCY: '16',
  });
  try {
    await h.kube('seed', reviewsGroup());
    const group = (await h.kube('get', 'networking.istio.io/v1', 'WorkloadGroup', NAMESPACE, 'reviews')) as {
      metadata: { uid: string };
    };
    const view: WorkloadGroupView = {
      namespace: NAMESPACE,
      name: 'reviews',
      uid: group.metadata.uid!,
      apiVersion: 'networking.istio.io/v1',
      annotations: {},
      entryMetadata: { labels: { app: 'reviews', version: 'v1' }, annotations: {} },
      template: { ports: { http: 9080 }, serviceAccount: 'reviews' },
    };
    const N = 10_000;
    const fakes = Array.from({ length: N }, (_, i) =>
      instance(id(i + 1), {
        privateIpAddress: `10.${((i + 1) >> 16) & 255}.${((i + 1) >> 8) & 255}.${(i + 1) & 255}`,
      }),
    );
    await h.aws('putMany', fakes);
    const entries = fakes.map((fake) => {
      const r = renderWorkloadEntry({ ...fake, ownerId: '123456789012', region: 'us-west-2' }, view);
      if (!r.ok) throw new Error(r.refusal.message);
      return r.entry;
    });
    await h.kube('seedMany', entries);
    // The sweep runs from a bundle built like the deployed one: no TypeScript loader in its RSS.
    const bundleDir = mkdtempSync(join(tmpdir(), 'vm-registrar-child-'));
    const childBundle = join(bundleDir, 'reconcile-child.mjs');
    await bundleHandler('test/bench/reconcile-child.ts', childBundle);
    const sweep = async (label: string) => {
      await h.kube('resetStats');
      await h.aws('resetStats');
      const { stdout } = await run(process.execPath, [...LAMBDA_NODE_OPTIONS.split(' '), childBundle], {
        env: process.env,
        maxBuffer: 1 << 24,
      });
      const out = JSON.parse(stdout) as {
        wallMs: number;
        totals: Record<string, number>;
        maxRssMB: number;
        errors: string[];
      };
      const kube = (await h.kube('stats')) as { total: number; writes: number };
      const ec2 = (await h.aws('stats')) as { total: number };
      const reads = `${kube.total - kube.writes} Kubernetes reads, ${ec2.total} EC2 + Auto Scaling calls`;
      process.stderr.write(
        `  ${label}: ${JSON.stringify(out.totals)} ${out.errors.join('; ')} ${JSON.stringify((out as { memoryMB?: unknown }).memoryMB)}\n`,
      );
      return { ...out, kubeWrites: kube.writes, reads };
    };
    const converged = await sweep('converged');
    record(
      'converged sweep, 10k/10k',
      `${fmt(converged.wallMs)}, ${converged.kubeWrites} writes`,
      '<= 5 s, 0 writes',
    );
    record('converged sweep reads', converged.reads, 'O(pages)');
    record('converged sweep peak RSS', `${converged.maxRssMB.toFixed(0)} MB`, '<= 256 MB');

    // 10% drift: 400 new IPs, 300 entries deleted by hand, 300 instances terminated.
    const api = kubeApi(h);
    await h.aws(
      'putMany',
      Array.from({ length: 400 }, (_, i) =>
        instance(id(i + 1), { privateIpAddress: `10.200.${(i + 1) >> 8}.${(i + 1) & 255}` }),
      ),
    );
    for (let n = 401; n <= 700; n++) {
      await api.deleteNamespacedCustomObject({
        group: 'networking.istio.io',
        version: 'v1',
        namespace: NAMESPACE,
        plural: 'workloadentries',
        name: `reviews-${id(n)}`,
      });
    }
    for (let n = 701; n <= 1000; n++) await h.aws('setState', id(n), 'terminated');
    const drift = await sweep('10% drift');
    record(
      '10% drift repaired',
      `${fmt(drift.wallMs)} (${drift.totals.create} create, ${drift.totals.update} update, ${drift.totals.delete} delete)`,
      '<= 15 s',
    );
    record('10% drift peak RSS', `${drift.maxRssMB.toFixed(0)} MB`, '<= 256 MB');
    const after = await sweep('after repair');
    record('sweep after repair', `${after.kubeWrites} writes`, '0 writes');
    rmSync(bundleDir, { recursive: true, force: true });
  } finally {
    await h.close();
  }
}

/** The event queue's redrive policy (infra/constructs/registrar.ts): the fifth failed receive dead-letters. */
const MAX_RECEIVES = 5;

async function faults() {
  process.stderr.write(
    'faults: 20% of Kubernetes calls failing (500/503/429/409/resets/slower than the request timeout), 20% EC2 throttling, 20% Auto Scaling 5xx\n',
  );
  // A request timeout of 500 ms, so that a request held 2 s is given up on (cancelled) and retried.
  const h = await startRemoteHarness({ ...BENCH_ENV, KUBE_REQUEST_TIMEOUT_MS: '500' });
  // Every injected failure is an ERROR log line of the handler (30 KB of JSON): the section counts
  // them instead, and says so. Not by log level: the handler's logger middleware resets the level
  // to its initial one on every invocation.
  const logError = logger.error;
  const logWarn = logger.warn;
  let silenced = 0;
  logger.error = () => {
    silenced++;
  };
  logger.warn = () => {
    silenced++;
  };
  const receives: number[] = [];
  let deadLettered = 0;
  try {
    await h.kube('seed', reviewsGroup());
    const N = 300;
    await h.aws(
      'putMany',
      Array.from({ length: N }, (_, i) => instance(id(i + 1))),
    );
    await h.kube('setFaults', {
      failureRate: 0.2,
      kinds: [500, 503, 429, 409, 'reset', 'slow'],
      slowMs: 2000,
      seed: 42,
    });
    await h.aws('setFaults', { ec2ThrottleRate: 0.2, autoScalingErrorRate: 0.2, seed: 7 });
    // SQS semantics with the redrive policy: a failed record comes back, up to MAX_RECEIVES receives.
    const deliver = async (bodies: string[]) => {
      let pending = bodies.map((body) => ({ body, receives: 0 }));
      let rounds = 0;
      while (pending.length > 0) {
        rounds++;
        const failed: typeof pending = [];
        for (let b = 0; b < pending.length; b += 10) {
          const batch = pending.slice(b, b + 10);
          for (const r of batch) r.receives++;
          const res = await h.send(batch.map((r) => r.body));
          const ids = new Set(res.batchItemFailures.map((f) => Number(f.itemIdentifier.split('-').pop())));
          for (const [i, r] of batch.entries()) {
            if (!ids.has(i)) receives.push(r.receives);
            else if (r.receives >= MAX_RECEIVES) deadLettered++;
            else failed.push(r);
          }
        }
        pending = failed;
      }
      return rounds;
    };
    const roundsUp = await deliver(Array.from({ length: N }, (_, i) => stateChange(id(i + 1), 'running')));
    for (let n = 1; n <= 100; n++) await h.aws('setState', id(n), n % 2 ? 'terminated' : 'stopped');
    const roundsDown = await deliver(
      Array.from({ length: 100 }, (_, i) => stateChange(id(i + 1), i % 2 ? 'stopped' : 'terminated')),
    );
    await h.kube('setFaults', undefined);
    const injected = (await h.kube('faultsInjected')) as Record<string, number>;
    const listed = (await h.kube('list', 'networking.istio.io/v1', 'WorkloadEntry', NAMESPACE)) as Array<{
      metadata: { name: string };
    }>;
    const names = listed.map((e) => e.metadata.name);
    const running = Array.from({ length: N - 100 }, (_, i) => `reviews-${id(i + 101)}`);
    const exact =
      running.every((n) => names.filter((x) => x === n).length === 1) && names.length === running.length;
    const byReceives = new Map<number, number>();
    for (const r of receives) byReceives.set(r, (byReceives.get(r) ?? 0) + 1);
    record(
      'faults: running tagged instances with exactly one entry',
      `${exact ? 'yes' : 'NO'} (${names.length}/${running.length}, ${roundsUp}+${roundsDown} delivery rounds)`,
      'all, none for terminated',
    );
    record('faults: records dead-lettered (would have succeeded on retry)', String(deadLettered), '0');
    record('faults: most receives one record needed', String(Math.max(...receives)), `< ${MAX_RECEIVES}`);
    process.stderr.write(
      `  faults: Kubernetes faults injected: ${Object.entries(injected)
        .map(([kind, n]) => `${kind} x${n}`)
        .join(', ')}; retried inside the invocation unless a record failed\n` +
        `  faults: ${receives.length} records done; receives per record: ${[...byReceives]
          .sort((a, b) => a[0] - b[0])
          .map(([k, v]) => `${k}: ${v}`)
          .join(', ')}; ${silenced} ERROR and WARN log lines of the handler counted, not printed\n`,
    );
  } finally {
    logger.error = logError;
    logger.warn = logWarn;
    await h.close();
  }
}

async function coldStart() {
  process.stderr.write('cold start\n');
  for (const r of await measureColdStart()) {
    record(`${r.fn} bundle size`, `${(r.bytes / 1024 / 1024).toFixed(2)} MB`, '<= 1.2 MB');
    record(
      `${r.fn} module init, deployed NODE_OPTIONS (p50 of 7)`,
      `${fmt(r.initMs.p50)} (${fmt(r.initWithoutSourceMapsMs.p50)} without source maps)`,
      '<= 200 ms',
    );
    const top = r.byPackage
      .slice(0, 8)
      .map(([pkg, bytes]) => `${pkg} ${(bytes / 1024).toFixed(0)} KB`)
      .join(', ');
    process.stderr.write(
      `  ${r.fn}: source map ${(r.sourceMapBytes / 1024 / 1024).toFixed(2)} MB; largest: ${top}\n`,
    );
  }
}

const sections: Record<string, () => Promise<void>> = {
  singleEvent,
  burst,
  servicesBurst: () => servicesBurst(record, BATCH),
  notificationsBurst: () => notificationsBurst(record, BATCH),
  reconcileAtScale,
  faults,
  coldStart,
};
const args = process.argv.slice(2);
const outAt = args.findIndex((a) => a === '--out' || a.startsWith('--out='));
const outFile =
  outAt < 0 ? undefined : args[outAt]!.startsWith('--out=') ? args[outAt]!.slice(6) : args[outAt + 1];
const only = args.filter(
  (_, i) => outAt < 0 || (i !== outAt && !(i === outAt + 1 && args[outAt] === '--out')),
);
if (only.includes('--help') || only.includes('-h') || (outAt >= 0 && !outFile)) {
  process.stdout.write(
    `usage: npm run bench [-- [--out FILE] SECTION...]   sections: ${Object.keys(sections).join(', ')}\n` +
      '  --out FILE   also write every figure, with its target, as JSON\n',
  );
  process.exit(outAt >= 0 && !outFile ? 64 : 0);
}
const unknown = only.filter((name) => !Object.hasOwn(sections, name));
if (unknown.length > 0) {
  // An empty table with exit 0 would read as "measured nothing, all fine".
  process.stderr.write(
    `bench: unknown section ${unknown.map((u) => `"${u}"`).join(', ')} (sections: ${Object.keys(sections).join(', ')})\n`,
  );
  process.exit(64);
}
const startedAt = new Date();
for (const [name, fn] of Object.entries(sections)) {
  if (only.length > 0 && !only.includes(name)) continue;
  section = name;
  await fn();
}
if (outFile) {
  const report = {
    startedAt: startedAt.toISOString(),
    durationS: Math.round((Date.now() - startedAt.getTime()) / 1000),
    machine: {
      cpus: cpus().length,
      cpu: cpus()[0]?.model,
      node: process.version,
      loadAverage: loadavg().map((l) => Number(l.toFixed(2))),
    },
    figures: rows.map(([measure, result, target], i) => ({ section: sections_[i], measure, result, target })),
  };
  writeFileSync(outFile, `${JSON.stringify(report, null, 2)}\n`);
  process.stderr.write(`bench: figures written to ${outFile}\n`);
}

const widths = [0, 1, 2].map((i) =>
  Math.max(...rows.map((r) => r[i]!.length), ['measure', 'result', 'target'][i]!.length),
);
const line = (r: readonly string[]) => `| ${r.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
process.stdout.write(
  `${[line(['measure', 'result', 'target']), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join(
    '\n',
  )}\n`,
);
