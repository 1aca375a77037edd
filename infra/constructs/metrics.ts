import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { isDefinedDimensionSet, METRICS, type MetricName } from '#shared/metrics.ts';

/** Where the functions' custom metrics live: Powertools adds the `service` dimension to each. */
export interface RegistrarMetricSource {
  /** POWERTOOLS_METRICS_NAMESPACE of the functions. */
  readonly metricsNamespace: string;
  /** POWERTOOLS_SERVICE_NAME of the functions. */
  readonly serviceName: string;
}

/**
 * Refuses (at synth) a metric name or dimension set that shared/metrics.ts does not define: a
 * widget or alarm on a metric the code never emits would show nothing and never fire.
 */
function checkDefined(name: MetricName, dimensions: readonly string[]): void {
  if (!(name in METRICS) || !isDefinedDimensionSet(name, dimensions)) {
    throw new Error(
      `metric ${name} with dimensions [${dimensions.join(', ')}] is not emitted (shared/metrics.ts): a widget or alarm on it would stay empty`,
    );
  }
}

/**
 * A custom metric of the functions (shared/metrics.ts) with exactly the `service` dimension plus
 * `dimensions` (one of the metric's defined sets), summed per period by default.
 */
export function registrarMetric(
  source: RegistrarMetricSource,
  name: MetricName,
  options: cloudwatch.MetricOptions & { readonly dimensions?: Readonly<Record<string, string>> } = {},
): cloudwatch.Metric {
  const { dimensions = {}, ...metricOptions } = options;
  checkDefined(name, Object.keys(dimensions));
  return new cloudwatch.Metric({
    namespace: source.metricsNamespace,
    metricName: name,
    statistic: cloudwatch.Stats.SUM,
    period: Duration.minutes(5),
    ...metricOptions,
    dimensionsMap: { service: source.serviceName, ...dimensions },
  });
}

/**
 * A custom metric summed over the values of one of its dimension sets (a CloudWatch Metrics
 * Insights query on exactly that set, `SCHEMA(namespace, service, ...)`: a metric emitted in total
 * and by group is not counted twice), optionally one line per value of `groupBy`.
 */
export function registrarMetricQuery(
  source: RegistrarMetricSource,
  name: MetricName,
  options: { period?: Duration; label?: string; dimensions: readonly string[]; groupBy?: string },
): cloudwatch.MathExpression {
  checkDefined(name, options.dimensions);
  if (options.groupBy && !options.dimensions.includes(options.groupBy)) {
    throw new Error(
      `metric ${name}: groupBy ${options.groupBy} is not one of [${options.dimensions.join(', ')}]`,
    );
  }
  const namespace = source.metricsNamespace.replace(/"/g, '');
  const service = source.serviceName.replace(/'/g, '');
  const schema = [`"${namespace}"`, 'service', ...options.dimensions].join(', ');
  const groupBy = options.groupBy ? ` GROUP BY ${options.groupBy}` : '';
  return new cloudwatch.MathExpression({
    expression: `SELECT SUM(${name}) FROM SCHEMA(${schema}) WHERE service = '${service}'${groupBy}`,
    usingMetrics: {},
    period: options.period ?? Duration.minutes(5),
    ...(options.label ? { label: options.label } : {}),
  });
}

/**
 * One line per value of a dimension (a CloudWatch SEARCH over exactly that dimension set), with
 * any statistic, percentiles included: per-group registrations, per-operation API latency.
 */
export function registrarMetricSearch(
  source: RegistrarMetricSource,
  name: MetricName,
  options: { dimensions: readonly string[]; statistic: string; period?: Duration; label?: string },
): cloudwatch.MathExpression {
  checkDefined(name, options.dimensions);
  const namespace = source.metricsNamespace.replace(/"/g, '');
  const service = source.serviceName.replace(/"/g, '');
  const period = options.period ?? Duration.minutes(5);
  const schema = [namespace, 'service', ...options.dimensions].join(',');
  return new cloudwatch.MathExpression({
    expression: `SEARCH('{${schema}} MetricName="${name}" service="${service}"', '${options.statistic}', ${period.toSeconds()})`,
    usingMetrics: {},
    period,
    ...(options.label ? { label: options.label } : {}),
  });
}
