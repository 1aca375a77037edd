import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { SQSBatchResponse } from 'aws-lambda';
import { handler, resetApp } from '../../functions/registrar/handler.ts';
import { cliContext } from '../../shared/cli/replay.ts';
import { sqsEvent } from '../helpers/fixtures.ts';
import { NAMESPACE } from '../helpers/harness.ts';

type Call = (method: string, ...args: unknown[]) => Promise<unknown>;

export interface RemoteHarness {
  readonly kube: Call;
  readonly aws: Call;
  readonly kubeconfigYaml: string;
  send(bodies: readonly string[]): Promise<SQSBatchResponse>;
  entryCount(): Promise<number>;
  close(): Promise<void>;
}

/** The test harness with the stand-ins on a worker thread (see standin-worker.ts). */
export async function startRemoteHarness(env: Record<string, string> = {}): Promise<RemoteHarness> {
  const worker = new Worker(new URL('./standin-worker.ts', import.meta.url));
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  let nextId = 0;
  const ready = await new Promise<{ kubeconfig: string; awsEnv: Record<string, string> }>(
    (resolve, reject) => {
      worker.once('error', reject);
      worker.on(
        'message',
        (m: { ready?: boolean; id?: number; result?: unknown; error?: string } & Record<string, never>) => {
          if (m.ready) return resolve(m as never);
          const p = pending.get(m.id!);
          pending.delete(m.id!);
          if (m.error) p?.reject(new Error(m.error));
          else p?.resolve(m.result);
        },
      );
    },
  );
  const call =
    (target: string): Call =>
    (method, ...args) =>
      new Promise((resolve, reject) => {
        const id = nextId++;
        pending.set(id, { resolve, reject });
        worker.postMessage({ id, target, method, args });
      });
  const dir = mkdtempSync(join(tmpdir(), 'vm-registrar-bench-'));
  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(kubeconfig, ready.kubeconfig);
  Object.assign(process.env, ready.awsEnv, {
    KUBECONFIG: kubeconfig,
    ALLOWED_NAMESPACES: `${NAMESPACE},other`,
    AWS_REGION: 'us-west-2',
    ...env,
  });
  delete process.env.CLUSTER_NAME;
  resetApp();
  let batch = 0;
  const kube = call('kube');
  return {
    kube,
    aws: call('aws'),
    kubeconfigYaml: ready.kubeconfig,
    send: async (bodies) =>
      (await handler(sqsEvent(bodies, `b${++batch}`), cliContext('bench'))) as SQSBatchResponse,
    entryCount: () => kube('count', 'networking.istio.io/v1', 'WorkloadEntry', NAMESPACE) as Promise<number>,
    close: async () => {
      resetApp();
      await kube('close');
      await call('aws')('close');
      await worker.terminate();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
