import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../../shared/config/config.ts';

describe('Function: loadConfig()', () => {
  it('applies the documented defaults', () => {
    const config = loadConfig({ ALLOWED_NAMESPACES: 'bookinfo, reviews ', AWS_REGION: 'eu-west-1' });
    expect(config).toEqual({
      region: 'eu-west-1',
      cluster: { kind: 'kubeconfig' },
      allowedNamespaces: ['bookinfo', 'reviews'],
      tagPrefix: 'istio-vm/',
      stoppedInstancePolicy: 'delete',
      fieldManager: 'istio-vm-registrar',
      workloadGroupCacheTtlMs: 30_000,
      completeLifecycleActions: true,
      lifecycleHookNames: ['istio-vm-registrar-launch', 'istio-vm-registrar-terminate'],
      kubeRequestTimeoutMs: 10_000,
      kubeConcurrency: 10,
      reconcileMaxDeleteRatio: 0.5,
      requireGroupAllowList: false,
      fleet: { home: { region: 'eu-west-1' }, spokes: [] },
      defaultServiceMode: 'none',
      kubeEvents: 'all',
      metricsMaxWorkloadGroups: 50,
      drainSeconds: 30,
      lifecycleRetrySeconds: 15,
      terminateRetryLimitSeconds: 3600,
      lifecycleHeartbeatMarginSeconds: 36,
    });
  });

  it('selects EKS token auth when CLUSTER_NAME is set', () => {
    const config = loadConfig({
      ALLOWED_NAMESPACES: 'a',
      AWS_REGION: 'us-west-2',
      CLUSTER_NAME: 'prod',
      CLUSTER_ENDPOINT: 'https://ABC.gr7.us-west-2.eks.amazonaws.com',
    });
    expect(config.cluster).toEqual({
      kind: 'eks',
      clusterName: 'prod',
      region: 'us-west-2',
      endpoint: 'https://ABC.gr7.us-west-2.eks.amazonaws.com',
    });
  });

  it('reports every problem at once, naming the variables', () => {
    expect(() =>
      loadConfig({
        ALLOWED_NAMESPACES: 'Bad_NS',
        STOPPED_INSTANCE_POLICY: 'hibernate',
        KUBE_CONCURRENCY: '0',
      }),
    ).toThrow(ConfigError);
    try {
      loadConfig({
        ALLOWED_NAMESPACES: '',
        STOPPED_INSTANCE_POLICY: 'hibernate',
        COMPLETE_LIFECYCLE_ACTIONS: 'maybe',
      });
    } catch (error) {
      const message = (error as Error).message;
      expect(message).toContain('ALLOWED_NAMESPACES');
      expect(message).toContain('STOPPED_INSTANCE_POLICY');
      expect(message).toContain('COMPLETE_LIFECYCLE_ACTIONS');
    }
  });

  it('reads DEFAULT_SERVICE_MODE and refuses a value outside none, service, serviceentry', () => {
    expect(
      loadConfig({ ALLOWED_NAMESPACES: 'a', DEFAULT_SERVICE_MODE: 'serviceentry' }).defaultServiceMode,
    ).toBe('serviceentry');
    expect(() => loadConfig({ ALLOWED_NAMESPACES: 'a', DEFAULT_SERVICE_MODE: 'Service' })).toThrow(
      /DEFAULT_SERVICE_MODE/,
    );
  });
});

describe('Function: loadConfig() (observability settings)', () => {
  it('reads EVENT_BUS as a name or an ARN, and refuses anything else', () => {
    const base = { ALLOWED_NAMESPACES: 'bookinfo' };
    expect(loadConfig({ ...base, EVENT_BUS: 'registrar-events' }).eventBus).toBe('registrar-events');
    const arn = 'arn:aws:events:us-west-2:111122223333:event-bus/central';
    expect(loadConfig({ ...base, EVENT_BUS: arn }).eventBus).toBe(arn);
    expect(() => loadConfig({ ...base, EVENT_BUS: 'no spaces allowed' })).toThrow(
      /EVENT_BUS must be an event bus name or an event bus ARN/,
    );
  });

  it('refuses an unknown KUBE_EVENTS and a group cap out of range', () => {
    expect(() => loadConfig({ ALLOWED_NAMESPACES: 'bookinfo', KUBE_EVENTS: 'some' })).toThrow(/KUBE_EVENTS/);
    expect(() => loadConfig({ ALLOWED_NAMESPACES: 'bookinfo', METRICS_MAX_WORKLOAD_GROUPS: '501' })).toThrow(
      /METRICS_MAX_WORKLOAD_GROUPS/,
    );
  });
});
