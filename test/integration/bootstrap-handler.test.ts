import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutParameterCommand, ValidationException } from '@aws-sdk/client-ssm';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { handler, resetApp } from '../../functions/bootstrap/handler.ts';
import { BootstrapParameters } from '../../shared/adapters/parameters.ts';
import type { BootstrapSummary } from '../../shared/app/bootstrap.ts';
import { createBootstrapApp } from '../../shared/app/bootstrap-wiring.ts';
import { cliContext } from '../../shared/cli/replay.ts';
import { logger } from '../../shared/observability.ts';
import { MESH_CONFIG, ROOT_CERT, sampleGroupObject } from '../helpers/bootstrap.ts';
import { fakeParameterStore } from '../helpers/parameter-store.ts';
import { type KubeApiStandIn, startKubeApi } from '../standins/kube-api/index.ts';

const PATH = '/istio-vm-registrar/bootstrap/bookinfo/reviews';

/** Every string reachable from a value: own properties (enumerable or not), causes, nested objects. */
function deepText(value: unknown, seen = new Set<unknown>()): string {
  if (value === null || value === undefined) return '';
  if (typeof value !== 'object' && typeof value !== 'function') return String(value);
  if (seen.has(value)) return '';
  seen.add(value);
  return Object.getOwnPropertyNames(value)
    .map((key) => `${key}=${deepText((value as Record<string, unknown>)[key], seen)}`)
    .join(' ');
}

/**
 * The bootstrap function's handler with the real Powertools logger at DEBUG, its output captured:
 * no log line and no returned summary ever holds a token, on success and on failures whose errors
 * carry the token in their message and the request (with the token) attached.
 */
describe('Function: bootstrap handler: never logs a token', () => {
  let kube: KubeApiStandIn;
  let dir: string;
  let env: Record<string, string>;
  const output: string[] = [];

  beforeAll(async () => {
    kube = await startKubeApi({ namespaces: ['bookinfo', 'istio-system'] });
    dir = mkdtempSync(join(tmpdir(), 'bootstrap-handler-'));
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
    env = {
      KUBECONFIG: join(dir, 'kubeconfig'),
      AWS_REGION: 'us-west-2',
      BOOTSTRAP_GROUPS: 'bookinfo/reviews:reviews',
      BOOTSTRAP_KMS_KEY_ID: 'alias/istio-vm-bootstrap',
      BOOTSTRAP_ISTIO_VERSION: '1.26.2',
      BOOTSTRAP_GATEWAY_DNS_NAME: 'localhost',
    };
    // Everything handed to the logger, at any level, serialised deeply (errors with their own
    // properties and causes): what could reach a log line whatever the level.
    for (const level of ['debug', 'info', 'warn', 'error', 'critical'] as const) {
      const original = logger[level].bind(logger) as (...args: unknown[]) => void;
      vi.spyOn(logger, level).mockImplementation(((...args: unknown[]) => {
        output.push(deepText(args));
        original(...args);
      }) as typeof logger.info);
    }
    // And what the logger prints.
    for (const stream of [process.stdout, process.stderr]) {
      vi.spyOn(stream, 'write').mockImplementation((chunk: string | Uint8Array) => {
        output.push(String(chunk));
        return true;
      });
    }
  });
  afterEach(() => resetApp());
  afterAll(async () => {
    vi.restoreAllMocks();
    await kube?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const invoke = async (request: object = {}) =>
    (await handler(request, cliContext('bootstrap'))) as BootstrapSummary;

  it('logs the run and the group, with no token, when it mints one', async () => {
    // Prepare
    const ssm = fakeParameterStore();
    resetApp(createBootstrapApp(env, { ssm: ssm.client }));
    output.length = 0;
    // Act
    const summary = await invoke();
    // Assess
    const token = ssm.value(`${PATH}/istio-token`)!;
    expect(token).toMatch(/^eyJ/);
    expect(summary.minted).toBe(1);
    const logged = output.join('');
    expect(logged).toContain('bootstrap refreshed');
    expect(logged).toContain('bootstrap run finished');
    expect(logged).not.toContain(token);
    expect(logged).not.toMatch(/eyJ[\w-]+\.eyJ/);
    expect(JSON.stringify(summary)).not.toContain(token);
  });

  it('keeps the token out of logs when Parameter Store echoes it in an error with the request attached', async () => {
    // Prepare: SecureString writes fail with SSM's validation message (which quotes the value) and
    // the request options, value included, hanging off the error.
    const ssm = fakeParameterStore();
    let leaked = '';
    ssm.mock.on(PutParameterCommand, { Type: 'SecureString' }).callsFake((input) => {
      leaked = input.Value ?? '';
      throw Object.assign(
        new ValidationException({
          $metadata: { httpStatusCode: 400 },
          message: `1 validation error detected: Value '${input.Value}' at 'value' failed to satisfy constraint`,
        }),
        {
          input,
          request: { headers: { 'x-amz-target': 'AmazonSSM.PutParameter' }, body: JSON.stringify(input) },
        },
      );
    });
    resetApp(createBootstrapApp(env, { ssm: ssm.client }));
    output.length = 0;
    // Act
    const summary = await invoke();
    // Assess
    expect(leaked).toMatch(/^eyJ/);
    expect(summary.groups[0]?.problems).toEqual([
      { reason: 'parameter-store-failed', message: expect.stringContaining("Value '[redacted]'") },
    ]);
    const logged = output.join('');
    expect(logged).toContain('bootstrap refresh failed');
    expect(logged).not.toContain(leaked);
    expect(JSON.stringify(summary)).not.toContain(leaked);
  });

  it('keeps the token out of logs even when an adapter throws it raw, with a cause', async () => {
    // Prepare: a parameters adapter that throws the token itself, its cause holding the request.
    const ssm = fakeParameterStore();
    const parameters = new BootstrapParameters(ssm.client);
    let leaked = '';
    parameters.putSecret = async (name, value) => {
      leaked = value;
      throw new Error(`could not write ${name}=${value}`, { cause: { request: { Value: value } } });
    };
    resetApp(createBootstrapApp(env, { ssm: ssm.client, parameters }));
    output.length = 0;
    // Act
    const summary = await invoke();
    // Assess
    const logged = output.join('');
    expect(leaked).toMatch(/^eyJ/);
    expect(logged).toContain('[redacted]');
    expect(logged).not.toContain(leaked);
    expect(JSON.stringify(summary)).not.toContain(leaked);
  });

  it('refuses an unknown payload key (parser), as the reconciler does', async () => {
    resetApp(createBootstrapApp(env, { ssm: fakeParameterStore().client }));
    await expect(invoke({ group: ['bookinfo/reviews'] })).rejects.toThrow();
  });
});
