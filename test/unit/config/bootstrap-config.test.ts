import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CONTEXT_KEYS } from '../../../infra/context.ts';
import {
  bootstrapEnvironmentSchema,
  loadBootstrapConfig,
  parseBootstrapGroup,
} from '../../../shared/config/bootstrap-config.ts';

const README = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
const minimal = {
  BOOTSTRAP_GROUPS: 'bookinfo/reviews',
  BOOTSTRAP_KMS_KEY_ID: 'alias/k',
  BOOTSTRAP_ISTIO_VERSION: '1.26.2',
  BOOTSTRAP_GATEWAY_DNS_NAME: 'gw.example.internal',
};

describe('Function: loadBootstrapConfig()', () => {
  it('fills in the defaults', () => {
    expect(loadBootstrapConfig(minimal)).toMatchObject({
      groups: [{ namespace: 'bookinfo', name: 'reviews', serviceAccount: 'default' }],
      parameterPrefix: '/istio-vm-registrar/bootstrap',
      tokenLifetimeSeconds: 86_400,
      refreshIntervalSeconds: 3600,
      clusterId: 'Kubernetes',
      architecture: 'single-network',
      controlPlaneNamespace: 'istio-system',
      zoneVpcIds: [],
      cluster: { kind: 'kubeconfig' },
    });
  });

  it('names every problem at once', () => {
    expect(() =>
      loadBootstrapConfig({
        ...minimal,
        BOOTSTRAP_GROUPS: 'bookinfo/reviews,bookinfo/reviews:x,bad',
        BOOTSTRAP_TOKEN_LIFETIME_SECONDS: '3600',
      }),
    ).toThrow(
      /BOOTSTRAP_GROUPS: "bad": .*; BOOTSTRAP_GROUPS: a group is named twice; BOOTSTRAP_REFRESH_INTERVAL_SECONDS: 3600 must be at most a quarter/,
    );
    expect(() => loadBootstrapConfig({})).toThrow(/BOOTSTRAP_GROUPS.*BOOTSTRAP_KMS_KEY_ID/);
  });

  it('parses a group with and without its service account', () => {
    expect(parseBootstrapGroup('ns/name:sa')).toEqual({
      namespace: 'ns',
      name: 'name',
      serviceAccount: 'sa',
    });
    expect(() => parseBootstrapGroup('ns/name:Bad_SA')).toThrow(/service account/);
  });
});

describe('README: the bootstrap configuration is documented', () => {
  it('lists every BOOTSTRAP_* variable and every bootstrap context key', () => {
    const variables = Object.keys(bootstrapEnvironmentSchema.shape).filter((k) => k.startsWith('BOOTSTRAP_'));
    expect(variables.length).toBeGreaterThan(10);
    for (const name of variables) expect(README, name).toContain(`\`${name}\``);
    for (const key of CONTEXT_KEYS.filter((k) => k.startsWith('bootstrap') || k === 'istioVersion')) {
      expect(README, key).toContain(`\`${key}\``);
    }
  });
});
