import { Reconciler } from '../../shared/app/reconciler.ts';
import { createApp } from '../../shared/app/wiring.ts';
import { logger, telemetry } from '../../shared/observability.ts';

/** A Reconciler wired from the current environment (the harness's stand-ins). */
export function reconcilerFromEnv(): Reconciler {
  const app = createApp();
  return new Reconciler({ ...app, logger, telemetry });
}
