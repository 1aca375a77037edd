import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type { MetricName } from '#shared/constants.ts';

/** Where the functions' custom metrics live: Powertools adds the `service` dimension to each. */
export interface RegistrarMetricSource {
  /** POWERTOOLS_METRICS_NAMESPACE of the functions. */
  readonly metricsNamespace: string;
  /** POWERTOOLS_SERVICE_NAME of the functions. */
  readonly serviceName: string;
}

/** A custom metric of the functions (names from shared/constants.ts), summed per period by default. */
export function registrarMetric(
  source: RegistrarMetricSource,
  name: MetricName,
  options: cloudwatch.MetricOptions = {},
): cloudwatch.Metric {
  return new cloudwatch.Metric({
    namespace: source.metricsNamespace,
    metricName: name,
    dimensionsMap: { service: source.serviceName },
    statistic: cloudwatch.Stats.SUM,
    period: Duration.minutes(5),
    ...options,
  });
}

/**
 * A custom metric summed across every dimension set the functions emit it with (a CloudWatch
 * Metrics Insights query), optionally one line per value of `groupBy`. For metrics emitted with an
 * extra dimension, e.g. InstancesRefused with `Reason`, which a `service`-only metric would miss.
 */
export function registrarMetricQuery(
  source: RegistrarMetricSource,
  name: MetricName,
  options: { period?: Duration; label?: string; groupBy?: string } = {},
): cloudwatch.MathExpression {
  const namespace = source.metricsNamespace.replace(/"/g, '');
  const service = source.serviceName.replace(/'/g, '');
  const groupBy = options.groupBy ? ` GROUP BY ${options.groupBy}` : '';
  return new cloudwatch.MathExpression({
    expression: `SELECT SUM(${name}) FROM "${namespace}" WHERE service = '${service}'${groupBy}`,
    usingMetrics: {},
    period: options.period ?? Duration.minutes(5),
    ...(options.label ? { label: options.label } : {}),
  });
}
