import { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import type { RegistrarStack } from '../../infra/stacks/registrar-stack.ts';
import { renderRbacManifests } from '../../shared/manifests/rbac.ts';
import { annotationMessages, buildTestApp, nagFindings, type SynthesisedApp } from './helpers.ts';

const KUBECTL_ROLE = 'arn:aws:iam::123456789012:role/eks-admin';

let built: SynthesisedApp;
let stack: RegistrarStack;
let template: Template;

beforeAll(() => {
  built = buildTestApp({
    deployGateway: 'false',
    applyRbac: 'true',
    kubectlRoleArn: KUBECTL_ROLE,
    allowedNamespaces: 'payments,reviews',
  });
  stack = built.registrarStack!;
  template = Template.fromStack(stack);
});

describe('ClusterAccess with applyRbac', () => {
  it('applies exactly the rendered RBAC through the kubectl provider, assuming the admin role', () => {
    const resources = Object.values(template.findResources('Custom::AWSCDK-EKS-KubernetesResource'));
    expect(resources).toHaveLength(1);
    const properties = resources[0]!.Properties;
    expect(properties.ClusterName).toBe('mesh');
    expect(properties.RoleArn).toBe(KUBECTL_ROLE);
    expect(properties.Overwrite).toBe(true);
    const manifest = JSON.parse(properties.Manifest as string) as Array<{
      metadata: { labels: Record<string, string> };
    }>;
    // CDK labels each object for pruning (objects dropped from the manifest are deleted on update).
    for (const object of manifest) {
      const pruneLabels = Object.keys(object.metadata.labels).filter((key) =>
        key.startsWith('aws.cdk.eks/prune-'),
      );
      expect(pruneLabels).toHaveLength(1);
      delete object.metadata.labels[pruneLabels[0]!];
    }
    expect(manifest).toEqual(
      renderRbacManifests({ namespaces: ['payments', 'reviews'], group: 'istio-vm-registrar' }),
    );
    template.resourceCountIs('AWS::CloudFormation::Stack', 1);
  });

  it('keeps the access entries', () => {
    template.resourceCountIs('AWS::EKS::AccessEntry', 2);
  });

  it('acknowledges the kubectl provider findings with reasons and leaves nothing else', () => {
    expect(nagFindings(stack)).toEqual([]);
    expect(annotationMessages(stack)).toEqual([]);
  });
});
