import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { entryPath, esbuildBuildOptions } from '../../infra/bundling.ts';
import { cliContext } from '../../shared/cli/replay.ts';
import { MESH_CONFIG, ROOT_CERT, sampleGroupObject } from '../helpers/bootstrap.ts';
import { type KubeApiStandIn, startKubeApi } from '../standins/kube-api/index.ts';

/**
 * The deployed artefact: the esbuild bundle of the bootstrap function (client-node's CoreV1Api,
 * js-yaml, the SSM client) run against the Kubernetes stand-in and a minimal Parameter Store
 * endpoint (JSON 1.1: GetParametersByPath answers nothing stored, PutParameter records).
 */
describe('Bundle: the bootstrap function as deployed', () => {
  let kube: KubeApiStandIn;
  let dir: string;
  let ssm: Server;
  const puts: Array<{ Name: string; Type: string; KeyId?: string }> = [];
  const saved = { ...process.env };

  beforeAll(async () => {
    kube = await startKubeApi({ namespaces: ['bookinfo', 'istio-system'] });
    dir = mkdtempSync(join(tmpdir(), 'bootstrap-bundle-'));
    kube.writeKubeconfig(join(dir, 'kubeconfig'));
    kube.seed(sampleGroupObject('single-network'));
    kube.seed({
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name: 'reviews', namespace: 'bookinfo' },
    });
    kube.seed({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'istio', namespace: 'istio-system' },
      data: { mesh: MESH_CONFIG },
    });
    kube.seed({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'istio-ca-root-cert', namespace: 'bookinfo' },
      data: { 'root-cert.pem': ROOT_CERT },
    });
    ssm = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk) => {
        body += chunk;
      });
      req.on('end', () => {
        const target = String(req.headers['x-amz-target']);
        res.writeHead(200, { 'Content-Type': 'application/x-amz-json-1.1' });
        if (target === 'AmazonSSM.PutParameter') {
          puts.push(JSON.parse(body) as (typeof puts)[number]);
          res.end(JSON.stringify({ Version: 1, Tier: 'Standard' }));
        } else res.end(JSON.stringify({ Parameters: [] }));
      });
    });
    await new Promise<void>((resolve) => ssm.listen(0, '127.0.0.1', resolve));
    Object.assign(process.env, {
      KUBECONFIG: join(dir, 'kubeconfig'),
      AWS_REGION: 'us-west-2',
      AWS_ENDPOINT_URL_SSM: `http://127.0.0.1:${(ssm.address() as AddressInfo).port}`,
      BOOTSTRAP_GROUPS: 'bookinfo/reviews:reviews',
      BOOTSTRAP_KMS_KEY_ID: 'alias/istio-vm-bootstrap',
      BOOTSTRAP_ISTIO_VERSION: '1.26.2',
      BOOTSTRAP_GATEWAY_DNS_NAME: 'localhost',
    });
    delete process.env.CLUSTER_NAME;
  });
  afterAll(async () => {
    process.env = saved;
    await kube?.close();
    await new Promise((resolve) => ssm?.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  });

  it('renders and writes the bundle, mints the token as a SecureString with the key', async () => {
    const outfile = join(dir, 'bootstrap.mjs');
    const { outExtension: _ext, ...options } = esbuildBuildOptions;
    await build({ ...options, entryPoints: [entryPath('bootstrap')], outfile });
    const { handler } = (await import(pathToFileURL(outfile).href)) as {
      handler: (e: unknown, c: unknown) => Promise<{ minted: number; failed: number }>;
    };
    const summary = await handler({}, cliContext('bootstrap'));
    expect(summary).toMatchObject({ minted: 1, failed: 0 });
    expect(puts.map((p) => [p.Name.split('/').at(-1), p.Type, p.KeyId])).toEqual([
      ['cluster.env', 'String', undefined],
      ['mesh.yaml', 'String', undefined],
      ['root-cert.pem', 'String', undefined],
      ['hosts', 'String', undefined],
      ['bootstrap.env', 'String', undefined],
      ['istio-token', 'SecureString', 'alias/istio-vm-bootstrap'],
      ['istio-token-expiry', 'String', undefined],
    ]);
  });
});
