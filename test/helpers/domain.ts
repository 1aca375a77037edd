import type { InstanceFacts, WorkloadGroupView } from '../../shared/domain/types.ts';

/** Instance facts for tests; by default a running instance of group `bookinfo/reviews`. */
export function facts(overrides: Partial<InstanceFacts> = {}): InstanceFacts {
  return {
    instanceId: 'i-1234567890abcdef0',
    state: 'running',
    privateIpAddress: '10.0.1.17',
    availabilityZone: 'us-west-2b',
    region: 'us-west-2',
    launchTime: '2026-11-26T10:00:00.000Z',
    ownerId: '123456789012',
    tags: { 'istio-vm/workload-group': 'bookinfo/reviews', 'aws:autoscaling:groupName': 'my-asg' },
    ...overrides,
  };
}

export function group(overrides: Partial<WorkloadGroupView> = {}): WorkloadGroupView {
  return {
    namespace: 'bookinfo',
    name: 'reviews',
    uid: '2f8e4c9a-0000-4000-8000-000000000001',
    apiVersion: 'networking.istio.io/v1',
    annotations: {},
    entryMetadata: { labels: { app: 'reviews', version: 'v1' }, annotations: {} },
    template: {
      ports: { http: 9080 },
      serviceAccount: 'reviews',
      labels: { tier: 'backend', app: 'template-app' },
    },
    ...overrides,
  };
}
