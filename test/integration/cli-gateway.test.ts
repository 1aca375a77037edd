import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadAll } from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { renderGatewayManifests, toYaml } from '../../shared/manifests/gateway.ts';
import { crdValidator, TARGET_GROUP_BINDING_CRD } from '../unit/manifests/crd.ts';
import { cli, ROOT, shell } from './cli-process.ts';

const ARNS: Record<number, string> = {
  15012:
    'arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/IstioV-Gatew-ISTIOD/0a1b2c3d4e5f6071',
  15017:
    'arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/IstioV-Gatew-WEBHOOK/0a1b2c3d4e5f6072',
  15021:
    'arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/IstioV-Gatew-STATUS/0a1b2c3d4e5f6073',
};

/** The README's `manifests gateway` deployment command, continuation lines joined, placeholders filled. */
function readmeGatewayCommand(): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8').replace(/\\\n\s*/g, '');
  const line = readme
    .split('\n')
    .find((l) =>
      l.startsWith('npm run -s vm-registrar -- manifests gateway --network vm-network --target-group'),
    );
  if (!line) throw new Error('README: no manifests gateway deployment command');
  const command = line.replace(/\s*\|\s*kubectl apply -f -\s*$/, '');
  return command.replace(/<TargetGroupArn(\d+)>/g, (_m, port: string) => ARNS[Number(port)]!);
}

describe('CLI: manifests gateway', () => {
  it("the README's deployment command prints three TargetGroupBindings the controller's CRD accepts", async () => {
    const command = readmeGatewayCommand();
    expect(command).not.toMatch(/[<>|]/);
    const out = await shell(command);
    expect(out.stderr).toBe('');
    expect(out.code).toBe(0);
    expect(out.stdout).toBe(
      toYaml(renderGatewayManifests({ network: 'vm-network', multiNetwork: false, targetGroupArns: ARNS })),
    );
    const objects = loadAll(out.stdout) as Array<{
      kind: string;
      metadata: { name: string; namespace: string };
      spec: never;
    }>;
    expect(objects.map((o) => o.kind)).toEqual([
      'Service',
      'Gateway',
      'VirtualService',
      'TargetGroupBinding',
      'TargetGroupBinding',
      'TargetGroupBinding',
    ]);
    const validate = crdValidator(TARGET_GROUP_BINDING_CRD, 'v1beta1');
    const tgbs = objects.filter((o) => o.kind === 'TargetGroupBinding');
    for (const tgb of tgbs) expect(validate(tgb), JSON.stringify(validate.errors)).toBe(true);
    expect(tgbs.map((t) => [t.metadata.name, t.metadata.namespace, t.spec])).toEqual(
      [15012, 15017, 15021].map((port) => [
        `istio-eastwestgateway-${port}`,
        'istio-system',
        { serviceRef: { name: 'istio-eastwestgateway', port }, targetGroupARN: ARNS[port], targetType: 'ip' },
      ]),
    );
  });

  it('refuses malformed, unknown-port and single-network-only values with exit 64, printing nothing', async () => {
    const out = await cli([
      'manifests',
      'gateway',
      '--network',
      'vm-network',
      '--target-group',
      'bogus',
      '--target-group',
      '15012=notanarn',
      '--target-group',
      `8080=${ARNS[15012]}`,
      '--target-group',
      `15443=${ARNS[15017]}`,
    ]);
    expect(out.code).toBe(64);
    expect(out.stdout).toBe('');
    expect(out.stderr).toContain('--target-group takes PORT=ARN (ports: 15021, 15012, 15017), not "bogus"');
    expect(out.stderr).toContain('"notanarn" is not a target group ARN');
    expect(out.stderr).toContain('no single-network gateway port 8080');
    expect(out.stderr).toContain('no single-network gateway port 15443');
  });

  it('--multi-network exposes 15443 and --namespace moves everything', async () => {
    const out = await cli([
      'manifests',
      'gateway',
      '--network',
      'vm-network',
      '--multi-network',
      '--namespace',
      'mesh-gateways',
      '--target-group',
      `15443=${ARNS[15012]}`,
    ]);
    expect(out.code).toBe(0);
    const objects = loadAll(out.stdout) as Array<{ kind: string; metadata: { namespace: string } }>;
    expect(objects.map((o) => o.kind)).toContain('TargetGroupBinding');
    expect(new Set(objects.map((o) => o.metadata.namespace))).toEqual(new Set(['mesh-gateways']));
    const missing = await cli(['manifests', 'gateway', '--multi-network']);
    expect(missing.code).toBe(64);
    expect(missing.stderr).toContain('a multi-network gateway needs a network name');
  });
});
