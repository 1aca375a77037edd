import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';
import { METRICS_NAMESPACE, type MetricName } from './constants.ts';

const serviceName = process.env.POWERTOOLS_SERVICE_NAME ?? 'istio-vm-registrar';

/** One logger, one metrics buffer and one tracer per process, shared by every module. */
export const logger = new Logger({ serviceName });
export const metrics = new Metrics({
  serviceName,
  namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? METRICS_NAMESPACE,
});
export const tracer = new Tracer({ serviceName });

/** What the application layer needs from metrics: counts, optionally with one extra dimension. */
export interface Telemetry {
  count(name: MetricName, value?: number, dimension?: { name: string; value: string }): void;
  milliseconds(name: MetricName, value: number): void;
}

export const telemetry: Telemetry = {
  count(name, value = 1, dimension) {
    if (value === 0) return;
    if (dimension) {
      metrics
        .singleMetric()
        .addDimension(dimension.name, dimension.value)
        .addMetric(name, MetricUnit.Count, value);
    } else {
      metrics.addMetric(name, MetricUnit.Count, value);
    }
  },
  milliseconds(name, value) {
    metrics.addMetric(name, MetricUnit.Milliseconds, value);
  },
};
