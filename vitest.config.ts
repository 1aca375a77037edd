import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/unit/**/*.test.ts', 'test/integration/**/*.test.ts', 'test/infra/**/*.test.ts'],
    environment: 'node',
    // Quiet Powertools: tests assert metrics and logs through spies, not stdout.
    env: {
      POWERTOOLS_METRICS_DISABLED: 'true',
      POWERTOOLS_LOG_LEVEL: 'SILENT',
      POWERTOOLS_TRACE_ENABLED: 'false',
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
    },
    // Generous: a CDK synth with esbuild bundling, or a CLI run through npm, can take over a minute
    // on a loaded two-core machine. Never a measure of speed (the bench measures that).
    testTimeout: 120_000,
    hookTimeout: 240_000,
    pool: 'forks',
    // Two cores: keep two workers so the stand-ins and the handler share the machine fairly.
    maxWorkers: 2,
  },
});
