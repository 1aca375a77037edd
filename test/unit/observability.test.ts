import { describe, expect, it } from 'vitest';
import { tracer, tracingEnabled } from '../../shared/observability.ts';

describe('Function: tracingEnabled()', () => {
  it("follows Powertools' own rule: on in Lambda unless turned off, off outside it", () => {
    const lambda = { AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs24.x' };
    expect(tracingEnabled(lambda)).toBe(true);
    expect(tracingEnabled({ ...lambda, POWERTOOLS_TRACE_ENABLED: 'FALSE' })).toBe(false);
    expect(tracingEnabled({ ...lambda, AWS_SAM_LOCAL: 'true' })).toBe(false);
    expect(tracingEnabled({ AWS_EXECUTION_ENV: 'AWS_Lambda_amplify-mock' })).toBe(false);
    expect(tracingEnabled({})).toBe(false);
  });

  it('leaves the X-Ray SDK unloaded when tracing is off (no async-hooks context tracking), and clients as they are', async () => {
    // Prepare: the test process is not a Lambda execution environment.
    const client = { send: () => 'untouched' };

    // Act
    const traced = tracer.captureAWSv3Client(client);

    // Assess
    expect(tracer.enabled).toBe(false);
    expect(traced).toBe(client);
    const { createRequire } = await import('node:module');
    const cache = createRequire(import.meta.url).cache;
    expect(Object.keys(cache).some((path) => path.includes('aws-xray-sdk-core'))).toBe(false);
  });
});
