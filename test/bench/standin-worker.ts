/**
 * The stand-ins on a thread of their own, so that in the benchmark the handler and the API servers
 * do not share one event loop (a real API server is another process). Controlled by messages:
 * `{ id, target: 'kube' | 'aws', method, args }`.
 */
import { parentPort } from 'node:worker_threads';
import { startAwsApi } from '../standins/aws-api/index.ts';
import { startKubeApi } from '../standins/kube-api/index.ts';

const kube = await startKubeApi({ namespaces: ['default', 'bookinfo', 'other'] });
const aws = await startAwsApi({ region: 'us-west-2' });
type Target = Record<string, (...args: unknown[]) => unknown>;
const targets: Record<string, Target> = {
  kube: {
    ...bind(kube),
    seedMany: (objects) => {
      for (const o of objects as never[]) kube.seed(o);
    },
    count: (apiVersion, kind, ns) => kube.list(apiVersion as string, kind as string, ns as string).length,
  },
  aws: {
    ...bind(aws),
    putMany: (instances) => {
      for (const i of instances as never[]) aws.putInstance(i);
    },
  },
};

function bind(object: object): Target {
  const out: Target = {};
  let proto = Object.getPrototypeOf(object);
  const names = new Set([...Object.keys(object)]);
  while (proto && proto !== Object.prototype) {
    for (const n of Object.getOwnPropertyNames(proto)) names.add(n);
    proto = Object.getPrototypeOf(proto);
  }
  for (const n of names) {
    const v = (object as Record<string, unknown>)[n];
    if (typeof v === 'function' && n !== 'constructor')
      out[n] = (v as (...a: unknown[]) => unknown).bind(object);
  }
  return out;
}

parentPort!.on('message', async (m: { id: number; target: string; method: string; args: unknown[] }) => {
  try {
    const result = await targets[m.target]![m.method]!(...m.args);
    parentPort!.postMessage({ id: m.id, result });
  } catch (error) {
    parentPort!.postMessage({ id: m.id, error: error instanceof Error ? error.message : String(error) });
  }
});
parentPort!.postMessage({ ready: true, kubeconfig: kube.kubeconfigYaml(), awsEnv: aws.env() });
