import { describe, expect, it } from 'vitest';
import { parseTargetGroups } from '../../../shared/cli/manifests.ts';
import { type KubernetesObject, renderGatewayManifests } from '../../../shared/manifests/gateway.ts';
import { crdValidator, TARGET_GROUP_BINDING_CRD } from './crd.ts';

const TG = (port: number) =>
  `arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/IstioV-Gatew-${port}/0123456789abcdef`;
const validate = crdValidator(TARGET_GROUP_BINDING_CRD, 'v1beta1');
const bindings = (objects: KubernetesObject[]) => objects.filter((o) => o.kind === 'TargetGroupBinding');

describe('TargetGroupBinding against the AWS Load Balancer Controller CRD (v1beta1)', () => {
  it('one valid binding per target group, with and without the NLB security group', () => {
    for (const loadBalancerSecurityGroupId of [undefined, 'sg-0123456789abcdef0']) {
      const objects = renderGatewayManifests({
        network: 'vm-network',
        multiNetwork: true,
        targetGroupArns: { 15012: TG(15012), 15017: TG(15017), 15021: TG(15021), 15443: TG(15443) },
        ...(loadBalancerSecurityGroupId ? { loadBalancerSecurityGroupId } : {}),
      });
      const tgbs = bindings(objects);
      expect(tgbs.map((b) => (b.spec as { serviceRef: { port: number } }).serviceRef.port)).toEqual([
        15012, 15017, 15021, 15443,
      ]);
      for (const tgb of tgbs) expect(validate(tgb), JSON.stringify(validate.errors)).toBe(true);
    }
  });

  it('the CRD schema catches what the controller would refuse', () => {
    const [tgb] = bindings(
      renderGatewayManifests({ multiNetwork: false, targetGroupArns: { 15012: TG(15012) } }),
    );
    const { serviceRef: _ref, ...spec } = tgb!.spec as Record<string, unknown>;
    expect(validate({ ...tgb, spec })).toBe(false);
    expect(validate({ ...tgb, spec: { ...(tgb!.spec as object), targetType: 'pod' } })).toBe(false);
  });
});

describe('Function: parseTargetGroups()', () => {
  it('reads PORT=ARN and names every malformed value', () => {
    expect(parseTargetGroups([`15012=${TG(15012)}`], false)).toEqual({
      arns: { 15012: TG(15012) },
      problems: [],
    });
    const { problems } = parseTargetGroups(
      ['bogus', '=x', '15012=', `15017=${TG(1)}`, `15017=${TG(2)}`],
      false,
    );
    expect(problems).toEqual([
      '--target-group takes PORT=ARN (ports: 15021, 15012, 15017), not "bogus"',
      '--target-group takes PORT=ARN (ports: 15021, 15012, 15017), not "=x"',
      '--target-group takes PORT=ARN (ports: 15021, 15012, 15017), not "15012="',
      '--target-group 15017 given twice',
    ]);
  });

  it('leaves ports and ARN shapes to the renderer, which refuses them', () => {
    const render =
      (targetGroupArns: Record<number, string>, multiNetwork = false) =>
      () =>
        renderGatewayManifests({ network: 'n', multiNetwork, targetGroupArns });
    expect(render({ 15012: 'notanarn' })).toThrow(/"notanarn" is not a target group ARN/);
    expect(render({ 15443: TG(15443) })).toThrow(/no single-network gateway port 15443/);
    expect(render({ 15443: TG(15443) }, true)).not.toThrow();
    for (const arn of [
      'arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/net/x/0123456789abcdef',
      'arn:aws:elasticloadbalancing:us-east-1:12345:targetgroup/x/0123456789abcdef',
      'arn:aws:ec2:us-east-1:123456789012:targetgroup/x/0123456789abcdef',
    ]) {
      expect(render({ 15012: arn }), arn).toThrow(/is not a target group ARN/);
    }
    expect(render({ 15012: TG(1).replace('arn:aws:', 'arn:aws-cn:') })).not.toThrow();
    expect(render({ 15012: TG(1).replace('arn:aws:', 'arn:aws-us-gov:') })).not.toThrow();
  });
});
