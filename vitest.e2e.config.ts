import { defineConfig } from 'vitest/config';
import base from './vitest.config.ts';

/**
 * The real-cluster suite: `E2E_KUBECONFIG=~/.kube/config npm run test:e2e`. It needs a cluster with
 * Istio's CRDs; EC2 stays the local stand-in. Without E2E_KUBECONFIG the suite reports "not run".
 * Same environment as the main suite; only the files, timeouts and parallelism differ.
 */
export default defineConfig({
  ...base,
  test: {
    ...base.test,
    include: ['test/e2e/**/*.e2e.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    maxWorkers: 1,
  },
});
