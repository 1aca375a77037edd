/**
 * One reconcile sweep in its own process, so that its peak RSS is the reconciler's alone (the
 * stand-ins live in the parent). Environment: the stand-ins' endpoints and kubeconfig.
 */
import { Reconciler } from '../../shared/app/reconciler.ts';
import { createApp } from '../../shared/app/wiring.ts';
import { logger, telemetry } from '../../shared/observability.ts';

const app = createApp();
const reconciler = new Reconciler({ ...app, logger, telemetry });
const started = performance.now();
const summary = await reconciler.run({ force: process.argv.includes('--force') });
const wallMs = performance.now() - started;
process.stdout.write(
  JSON.stringify({
    wallMs,
    totals: summary.totals,
    reads: summary.reads,
    errors: summary.errors.slice(0, 3),
    safetyStops: summary.safetyStops.length,
    maxRssMB: process.resourceUsage().maxRSS / 1024,
    memoryMB: Object.fromEntries(
      Object.entries(process.memoryUsage()).map(([k, v]) => [k, Math.round(v / 1048576)]),
    ),
  }),
);
