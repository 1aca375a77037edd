import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetParametersByPathCommand, PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { printBootstrapRbac, runBootstrapRefresh } from '../../shared/cli/bootstrap.ts';
import { renderUserData } from '../../shared/manifests/user-data.ts';
import { MESH_CONFIG, ROOT_CERT, sampleGroupObject } from '../helpers/bootstrap.ts';
import { type KubeApiStandIn, startKubeApi } from '../standins/kube-api/index.ts';
import { cli, ROOT } from './cli-process.ts';

/** Runs a command function in this process with `env` set, capturing what it writes. */
async function inProcess(
  command: () => Promise<number>,
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const saved = { ...process.env };
  Object.assign(process.env, env);
  const out = { stdout: '', stderr: '' };
  const spies = (['stdout', 'stderr'] as const).map((name) =>
    vi.spyOn(process[name], 'write').mockImplementation((chunk: string | Uint8Array) => {
      out[name] += String(chunk);
      return true;
    }),
  );
  try {
    return { code: await command(), ...out };
  } finally {
    for (const spy of spies) spy.mockRestore();
    process.env = saved;
  }
}

const BOOTSTRAP_ENV = {
  BOOTSTRAP_GROUPS: 'bookinfo/reviews:reviews',
  BOOTSTRAP_KMS_KEY_ID: 'alias/istio-vm-bootstrap',
  BOOTSTRAP_ISTIO_VERSION: '1.26.2',
  BOOTSTRAP_GATEWAY_DNS_NAME: 'localhost',
};

describe('CLI: vm-registrar bootstrap', () => {
  it('user-data prints the rendered script, and refuses a bad group with exit 64 and nothing on stdout', async () => {
    const ok = await cli([
      'bootstrap',
      'user-data',
      '--group',
      'bookinfo/reviews',
      '--refresh-interval',
      '15min',
    ]);
    expect(ok).toMatchObject({ code: 0, stderr: '' });
    expect(ok.stdout).toBe(renderUserData({ group: 'bookinfo/reviews', refreshInterval: '15min' }));
    const bad = await cli(['bootstrap', 'user-data', '--group', 'reviews']);
    expect(bad).toEqual({
      code: 64,
      stdout: '',
      stderr: 'vm-registrar bootstrap user-data: --group: "reviews" is not <namespace>/<name>\n',
    });
  });

  it('rbac prints the Roles for the groups given or in BOOTSTRAP_GROUPS; usage error without any', async () => {
    const given = await cli(['bootstrap', 'rbac', '--group', 'bookinfo/reviews:reviews']);
    expect(given.code).toBe(0);
    expect(given.stdout).toContain('serviceaccounts/token');
    const options = {
      groups: [],
      controlPlaneNamespace: 'istio-system',
      kubernetesGroup: 'istio-vm-registrar-bootstrap',
    };
    const fromEnv = await inProcess(() => printBootstrapRbac(options), {
      BOOTSTRAP_GROUPS: 'bookinfo/reviews:reviews',
    });
    expect(fromEnv).toEqual({ code: 0, stdout: given.stdout, stderr: '' });
    const none = await inProcess(() => printBootstrapRbac(options), { BOOTSTRAP_GROUPS: '' });
    expect(none.code).toBe(64);
    expect(none.stderr).toContain('needs --group');
  });

  it('refresh refuses an incomplete configuration and a group that is not opted in (exit 64)', async () => {
    const missing = await cli(['bootstrap', 'refresh'], { BOOTSTRAP_GROUPS: '' });
    expect(missing.code).toBe(64);
    expect(missing.stderr).toMatch(
      /^vm-registrar bootstrap refresh: invalid bootstrap configuration: .*BOOTSTRAP_GROUPS/,
    );
    const other = await cli(['bootstrap', 'refresh', '--group', 'bookinfo/ratings'], BOOTSTRAP_ENV);
    expect(other.code).toBe(64);
    expect(other.stderr).toContain('not in BOOTSTRAP_GROUPS: bookinfo/ratings');
  });

  it('documents every bootstrap flag in the README CLI section', async () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## CLI'), readme.indexOf('## Troubleshooting'));
    for (const command of ['user-data', 'rbac', 'refresh']) {
      const help = await cli(['bootstrap', command, '--help']);
      const flags = (help.stdout.match(/^\s+(--[a-z-]+)/gm) ?? [])
        .map((f) => f.trim())
        .filter((f) => f !== '--help');
      expect(flags.length, command).toBeGreaterThan(0);
      for (const flag of flags) expect(section, `bootstrap ${command} ${flag}`).toContain(flag);
      expect(section).toContain(`bootstrap ${command}`);
    }
  });
});

describe('CLI: vm-registrar bootstrap refresh (in process, SSM mocked)', () => {
  let kube: KubeApiStandIn;
  let dir: string;
  const ssm = mockClient(SSMClient);
  const saved = { ...process.env };

  beforeAll(async () => {
    kube = await startKubeApi({ namespaces: ['bookinfo', 'istio-system'] });
    dir = mkdtempSync(join(tmpdir(), 'cli-bootstrap-'));
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
    Object.assign(process.env, BOOTSTRAP_ENV, {
      KUBECONFIG: join(dir, 'kubeconfig'),
      AWS_REGION: 'us-west-2',
    });
    delete process.env.CLUSTER_NAME;
  });
  afterAll(async () => {
    process.env = saved;
    ssm.restore();
    await kube?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('prints one row per group and exits 0; JSON holds the summary without the token', async () => {
    ssm.on(GetParametersByPathCommand).resolves({ Parameters: [] });
    ssm.on(PutParameterCommand).resolves({ Version: 1 });
    const out: string[] = [];
    const write = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      out.push(String(chunk));
      return true;
    });
    try {
      expect(await runBootstrapRefresh({ groups: [], output: 'table' })).toBe(0);
      expect(await runBootstrapRefresh({ groups: ['bookinfo/reviews'], output: 'json' })).toBe(0);
    } finally {
      write.mockRestore();
    }
    const [table, json] = out;
    expect(table?.split('\n')[0]).toMatch(
      /^GROUP\s+BUNDLE\s+FILES WRITTEN\s+TOKEN\s+STATE\s+EXPIRES\s+PROBLEM$/,
    );
    expect(table?.split('\n')[1]).toMatch(
      /^bookinfo\/reviews\s+written\s+cluster\.env,mesh\.yaml,root-cert\.pem,hosts,bootstrap\.env\s+minted\s+missing\s+\S+Z\s+-$/,
    );
    const token = ssm.commandCalls(PutParameterCommand).find((c) => c.args[0].input.Type === 'SecureString')
      ?.args[0].input.Value;
    expect(token).toMatch(/^eyJ/);
    expect(JSON.parse(json!)).toMatchObject({ minted: 1, failed: 0 });
    expect(json).not.toContain(token);
  });
});
