import { defineConfig } from 'vitest/config';

/**
 * The real-cluster suite: `E2E_KUBECONFIG=~/.kube/config npm run test:e2e`. It needs a cluster with
 * Istio's CRDs; EC2 stays the local stand-in. Without E2E_KUBECONFIG the suite reports "not run".
 */
export default defineConfig({
  test: {
    include: ['test/e2e/**/*.e2e.test.ts'],
    environment: 'node',
    env: {
      POWERTOOLS_METRICS_DISABLED: 'true',
      POWERTOOLS_LOG_LEVEL: 'SILENT',
      POWERTOOLS_TRACE_ENABLED: 'false',
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
    },
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    maxWorkers: 1,
  },
});
