import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, onTestFinished, vi } from 'vitest';
import { resetApp } from '../../functions/registrar/handler.ts';
import { KubernetesError } from '../../shared/adapters/errors.ts';
import { logger } from '../../shared/observability.ts';
import { redactText } from '../../shared/redaction.ts';
import { stateChange } from '../helpers/fixtures.ts';
import { instance, useHarness } from '../helpers/harness.ts';
import { unauthorized } from '../standins/kube-api/errors.ts';

/**
 * No credential reaches a log line or an error message: the EKS token (a presigned STS URL behind
 * `k8s-aws-v1.`), the kubeconfig and what it holds, whatever fails (401, 500, a refused connection,
 * an unreadable kubeconfig) and whatever a library attached to its errors (request options with an
 * Authorization header). Every line the real handler writes is captured at DEBUG.
 */
const ID = 'i-0123456789abcdef0';
/** base64url of "https://sts.": the start of every EKS token's payload. */
const TOKEN_PAYLOAD = Buffer.from('https://sts.').toString('base64url').slice(0, 14);
const CERT = readFileSync(new URL('../fixtures/tls/server.crt', import.meta.url));
const KEY = readFileSync(new URL('../fixtures/tls/server.key', import.meta.url));
const CA = CERT.toString('base64');

/** HTTPS in front of the (plain HTTP) stand-in, as an EKS endpoint is: client-node refuses plain HTTP with a CA. */
async function tlsFront(target: string): Promise<{ url: string; close(): Promise<void> }> {
  const server = createHttpsServer({ cert: CERT, key: KEY }, (req, res) => {
    const upstream = httpRequest(
      `${target}${req.url}`,
      { method: req.method, headers: req.headers },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `https://127.0.0.1:${port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

function captureOutput() {
  const lines: string[] = [];
  const take = (chunk: unknown) => {
    lines.push(String(chunk));
    return true;
  };
  vi.spyOn(process.stdout, 'write').mockImplementation(take);
  vi.spyOn(process.stderr, 'write').mockImplementation(take);
  return lines;
}

function assertClean(lines: readonly string[], secrets: readonly string[]) {
  const text = lines.join('\n');
  expect(text).not.toContain(TOKEN_PAYLOAD);
  expect(text).not.toMatch(/k8s-aws-v1\.(?!\[REDACTED\])/);
  expect(text).not.toMatch(/X-Amz-Signature=(?!\[REDACTED\])/i);
  for (const s of secrets) expect(text).not.toContain(s);
}

describe('Redaction: the EKS token and the kubeconfig never reach a log line or an error message', () => {
  const h = useHarness();
  beforeEach(() => {
    logger.setLogLevel('DEBUG');
    // The logger middleware puts the configured level (SILENT in tests) back at each warm invocation.
    vi.spyOn(logger, 'refreshSampleRateCalculation').mockImplementation(() => {});
  });
  afterEach(() => logger.setLogLevel('SILENT'));

  /** EKS token authentication (the harness itself uses a kubeconfig) against `endpoint`. */
  const eks = async (endpoint: (kubeUrl: string) => Promise<string>) => {
    await h.restart({
      CLUSTER_CA_DATA: CA,
      AWS_ACCESS_KEY_ID: 'AKIAIOSFODNN7EXAMPLE',
      AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
    });
    process.env.CLUSTER_NAME = 'prod';
    process.env.CLUSTER_ENDPOINT = await endpoint(h.kube.url);
    resetApp();
  };

  it.each([
    [
      'the API server answers 401',
      (hh: typeof h) => hh.kube.setRequestHook(() => Promise.reject(unauthorized())),
    ],
    [
      'the API server answers 500',
      (hh: typeof h) => hh.kube.setFaults({ failureRate: 1, kinds: [500], seed: 1 }),
    ],
  ])('EKS authentication, %s: the records fail and are logged, the token is not', async (_, fail) => {
    // Prepare
    await eks(async (kubeUrl) => {
      const front = await tlsFront(kubeUrl);
      onTestFinished(() => front.close());
      return front.url;
    });
    h.aws.putInstance(instance(ID));
    fail(h);
    const lines = captureOutput();

    // Act
    const response = await h.send([stateChange(ID, 'running')]);

    // Assess
    expect(response.batchItemFailures).toHaveLength(1);
    // The request reached the API server, with the token.
    expect(h.kube.stats().total).toBeGreaterThan(0);
    expect(lines.join('\n')).toContain('record failed');
    assertClean(lines, ['wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY']);
  });

  it('EKS authentication, connection refused: the failed direct invocation error carries no token', async () => {
    // Prepare
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as { port: number };
    await new Promise((resolve) => closed.close(resolve));
    await eks(async () => `https://127.0.0.1:${port}`);
    h.aws.putInstance(instance(ID));
    const lines = captureOutput();

    // Act
    const thrown = await h.invoke(JSON.parse(stateChange(ID, 'running'))).catch((e: unknown) => e);

    // Assess
    expect(thrown).toBeInstanceOf(Error);
    expect((thrown as Error).message, (thrown as Error).message).toMatch(/ECONNREFUSED|fetch failed/);
    assertClean([...lines, (thrown as Error).message, String((thrown as Error).stack)], []);
  });

  it('an unreadable kubeconfig: its parse error quotes the file, the token in it is not logged', async () => {
    // Prepare
    const dir = mkdtempSync(join(tmpdir(), 'redaction-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const broken = join(dir, 'kubeconfig');
    writeFileSync(
      broken,
      [
        'apiVersion: v1',
        'kind: Config',
        'users:',
        '- name: admin',
        '  user:',
        '    token: kubeconfig-secret-token-0123456789',
        '    password: "hunter2-password-value"',
        '   - bad indentation',
      ].join('\n'),
    );
    await h.restart({ KUBECONFIG: broken });
    h.aws.putInstance(instance(ID));
    const lines = captureOutput();

    // Act
    const response = await h.send([stateChange(ID, 'running')]);

    // Assess
    expect(response.batchItemFailures).toHaveLength(1);
    assertClean(lines, ['kubeconfig-secret-token-0123456789', 'hunter2-password-value']);
    expect(lines.join('\n')).toContain('bad indentation');
    expect(lines.join('\n')).toContain('password: [REDACTED]');
  });

  it('an error a client throws with its request options attached is logged without the Authorization header or token', () => {
    // Prepare: the shape of a fetch/HTTP client error that kept its request.
    const token = `k8s-aws-v1.${Buffer.from('https://sts.us-west-2.amazonaws.com/?Action=GetCallerIdentity&X-Amz-Signature=abc123').toString('base64url')}`;
    const raw = Object.assign(
      new Error(`request to https://10.0.0.1/apis failed: Authorization: Bearer ${token}`),
      {
        options: { method: 'GET', headers: { Authorization: `Bearer ${token}`, Accept: 'application/json' } },
        request: { url: 'https://10.0.0.1/apis', headers: { authorization: `Bearer ${token}` } },
        config: { users: [{ name: 'registrar', token }] },
      },
    );
    const error = new KubernetesError('get WorkloadGroup bookinfo/reviews: connection reset', {
      retriable: true,
      cause: raw,
    });
    const lines = captureOutput();

    // Act
    logger.error('record failed; it will be retried', {
      error,
      kubeconfig: `users:\n- user:\n    token: ${token}`,
    });

    // Assess
    const text = lines.join('\n');
    expect(text).toContain('connection reset');
    expect(text).toContain('"Accept":"application/json"');
    expect(text).not.toContain(token);
    assertClean(lines, [token.slice(11)]);
  });

  it('redactText: the shapes it removes, and ordinary text left alone', () => {
    expect(redactText('Authorization: Bearer abc.def-ghi')).toBe('Authorization: Bearer [REDACTED]');
    expect(redactText('?X-Amz-Credential=AKIA%2F20261126&X-Amz-Signature=deadbeef&Action=x')).toBe(
      '?X-Amz-Credential=[REDACTED]&X-Amz-Signature=[REDACTED]&Action=x',
    );
    expect(redactText('instance i-0abc refused: no private IPv4')).toBe(
      'instance i-0abc refused: no private IPv4',
    );
  });
});
