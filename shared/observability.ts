import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import { LogFormatter, Logger, LogItem } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Tracer } from '@aws-lambda-powertools/tracer';
import type middy from '@middy/core';
import { METRICS_NAMESPACE } from './constants.ts';
import {
  DEFAULT_MAX_METRIC_GROUPS,
  isDefinedDimensionSet,
  METRICS,
  type MetricName,
  type MetricUnitName,
  OTHER_GROUPS,
} from './metrics.ts';
import { redactingReplacer } from './redaction.ts';

const serviceName = process.env.POWERTOOLS_SERVICE_NAME ?? 'istio-vm-registrar';
const namespace = process.env.POWERTOOLS_METRICS_NAMESPACE ?? METRICS_NAMESPACE;

/**
 * What one record is about, carried by every log line written while it is processed (however deep
 * the call): its `recordId`, a `correlationId` made for it (also in its EventBridge events), and,
 * once known, `instanceId`, `workloadGroup` and `outcome`. Concurrent records each keep their own.
 */
const recordContext = new AsyncLocalStorage<Record<string, string>>();

/**
 * Whether Powertools' Tracer would trace in this environment, by its own rule: in a Lambda
 * execution environment (not SAM local, not the Amplify mock) unless POWERTOOLS_TRACE_ENABLED=false.
 */
export function tracingEnabled(env: Record<string, string | undefined> = process.env): boolean {
  const executionEnv = env.AWS_EXECUTION_ENV ?? '';
  return (
    (env.POWERTOOLS_TRACE_ENABLED ?? '').toLowerCase() !== 'false' &&
    executionEnv !== '' &&
    executionEnv !== 'AWS_Lambda_amplify-mock' &&
    (env.AWS_SAM_LOCAL ?? '') === ''
  );
}

/**
 * Powertools' Tracer, loaded only when tracing is on: the X-Ray SDK behind it turns on async-hooks
 * context tracking for every promise as soon as it is imported, which the CLI, the tests and a
 * function with tracing off would pay for nothing (docs/benchmarks.md).
 */
const xray: Tracer | undefined = tracingEnabled()
  ? new (await import('@aws-lambda-powertools/tracer')).Tracer({ serviceName })
  : undefined;

/** What the code needs from the tracer; a pass-through when tracing is off. */
export const tracer = {
  enabled: xray !== undefined,
  /** Traces the calls of an AWS SDK v3 client (subsegments per call). */
  captureAWSv3Client<T>(client: T): T {
    return xray ? xray.captureAWSv3Client(client) : client;
  },
};

/** The handler's tracing middleware (a segment per invocation), or one that does nothing. */
export async function tracingMiddleware(options?: {
  captureResponse?: boolean;
}): Promise<middy.MiddlewareObj> {
  if (!xray) return { before: () => {} };
  const { captureLambdaHandler } = await import('@aws-lambda-powertools/tracer/middleware');
  return captureLambdaHandler(xray, options);
}

/** Runs `fn` with a record's log context (`correlationId` made here unless given). */
export function withRecordContext<T>(keys: Record<string, string>, fn: () => T): T {
  return recordContext.run({ correlationId: randomUUID(), ...keys }, fn);
}

/** Adds keys to the current record's log context (no-op outside one). */
export function annotateRecord(keys: Record<string, string | undefined>): void {
  const store = recordContext.getStore();
  if (!store) return;
  for (const [k, v] of Object.entries(keys)) if (v !== undefined) store[k] = v;
}

/** The current record's log context (empty outside one). */
export function currentRecord(): Readonly<Record<string, string>> {
  return recordContext.getStore() ?? {};
}

/** Powertools' standard JSON line, plus the current record's context (explicit keys win). */
class RecordLogFormatter extends LogFormatter {
  override formatAttributes(
    attributes: Parameters<LogFormatter['formatAttributes']>[0],
    additional: Parameters<LogFormatter['formatAttributes']>[1],
  ): LogItem {
    const base = {
      level: attributes.logLevel,
      message: attributes.message,
      timestamp: this.formatTimestamp(attributes.timestamp),
      service: attributes.serviceName,
      cold_start: attributes.lambdaContext?.coldStart,
      function_arn: attributes.lambdaContext?.invokedFunctionArn,
      function_memory_size: attributes.lambdaContext?.memoryLimitInMB,
      function_name: attributes.lambdaContext?.functionName,
      function_request_id: attributes.lambdaContext?.awsRequestId,
      sampling_rate: attributes.sampleRateValue,
      xray_trace_id: attributes.xRayTraceId,
    };
    return new LogItem({ attributes: base }).addAttributes({ ...recordContext.getStore(), ...additional });
  }
}

/** One logger, one metrics buffer and one tracer per process, shared by every module. */
export const logger = new Logger({
  serviceName,
  jsonReplacerFn: redactingReplacer,
  logFormatter: new RecordLogFormatter(),
});
export const metrics = new Metrics({ serviceName, namespace });

/**
 * Dimensions of one emission: one of the metric's defined sets (shared/metrics.ts), either as
 * `{ name, value }` for a single dimension or as a record (`{ WorkloadGroup, Kind }`).
 */
export type Dimensions = { readonly name: string; readonly value: string } | Readonly<Record<string, string>>;

/** What the application layer needs from metrics: only metrics of shared/metrics.ts, with their dimension sets. */
export interface Telemetry {
  /** Adds `value` (default 1; 0 emits nothing) to a count. */
  count(name: MetricName, value?: number, dimensions?: Dimensions): void;
  /** Records one duration sample (a percentile-friendly EMF value). */
  milliseconds(name: MetricName, value: number, dimensions?: Dimensions): void;
}

/** Thrown for a metric or dimension set missing from shared/metrics.ts: a defect, caught by the tests. */
export class UndefinedMetricError extends Error {
  override readonly name = 'UndefinedMetricError';
}

interface Buffered {
  readonly dimensions: Record<string, string>;
  readonly values: Map<MetricName, { unit: MetricUnitName; values: number[] }>;
}

/** EMF allows 100 values per metric in one document. */
const MAX_VALUES = 100;

function asRecord(dimensions: Dimensions | undefined): Record<string, string> {
  if (!dimensions) return {};
  const keys = Object.keys(dimensions);
  if (keys.length === 2 && 'name' in dimensions && 'value' in dimensions) {
    return { [String(dimensions.name)]: String(dimensions.value) };
  }
  return { ...(dimensions as Record<string, string>) };
}

/**
 * Telemetry on Powertools metrics. Service-wide totals go to the shared `metrics` buffer (one EMF
 * document per invocation, published by `metricsMiddleware`); samples with dimensions are
 * gathered per dimension set and written by {@link flush} as one EMF document per set (a batch of
 * ten records in one group costs one document, not ten). `WorkloadGroup` values are capped per
 * container: past the cap, further groups are counted under `other`.
 */
export class MetricsTelemetry implements Telemetry {
  readonly #totals: Metrics;
  readonly #sets = new Map<string, Buffered>();
  readonly #groups = new Set<string>();
  #maxGroups = DEFAULT_MAX_METRIC_GROUPS;
  #warnedCap = false;

  constructor(totals: Metrics) {
    this.#totals = totals;
  }

  /** Distinct WorkloadGroup values this container emits before folding the rest into `other`. */
  setMaxWorkloadGroups(max: number): void {
    this.#maxGroups = max;
  }

  count(name: MetricName, value = 1, dimensions?: Dimensions): void {
    if (value === 0) return;
    this.#add(name, value, dimensions, true);
  }

  milliseconds(name: MetricName, value: number, dimensions?: Dimensions): void {
    this.#add(name, Math.max(0, Math.round(value)), dimensions, false);
  }

  #add(name: MetricName, value: number, dimensions: Dimensions | undefined, sum: boolean): void {
    const definition = METRICS[name];
    const dims = asRecord(dimensions);
    if (!definition || !isDefinedDimensionSet(name, Object.keys(dims))) {
      throw new UndefinedMetricError(
        `metric ${name} is not defined with dimensions [${Object.keys(dims).join(', ')}] in shared/metrics.ts`,
      );
    }
    const unit = definition.unit;
    if (Object.keys(dims).length === 0) {
      this.#totals.addMetric(name, MetricUnit[unit], value);
      return;
    }
    if (dims.WorkloadGroup !== undefined) dims.WorkloadGroup = this.#group(dims.WorkloadGroup);
    const key = Object.entries(dims)
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([k, v]) => `${k}=${v}`)
      .join('\u0000');
    let set = this.#sets.get(key);
    if (!set) {
      set = { dimensions: dims, values: new Map() };
      this.#sets.set(key, set);
    }
    let metric = set.values.get(name);
    if (!metric) {
      metric = { unit, values: [] };
      set.values.set(name, metric);
    }
    if (sum && metric.values.length > 0) metric.values[0]! += value;
    else metric.values.push(value);
    if (metric.values.length >= MAX_VALUES) this.#publish(set);
  }

  #group(group: string): string {
    if (this.#groups.has(group)) return group;
    if (this.#groups.size < this.#maxGroups) {
      this.#groups.add(group);
      return group;
    }
    if (!this.#warnedCap) {
      this.#warnedCap = true;
      logger.warn(
        'more WorkloadGroups than METRICS_MAX_WORKLOAD_GROUPS: further groups are counted as "other"',
        {
          max: this.#maxGroups,
          group,
        },
      );
    }
    return OTHER_GROUPS;
  }

  #publish(set: Buffered): void {
    if (set.values.size === 0) return;
    const out = new Metrics({ serviceName, namespace });
    for (const [name, value] of Object.entries(set.dimensions)) out.addDimension(name, value);
    for (const [name, { unit, values }] of set.values) {
      for (const v of values) out.addMetric(name, MetricUnit[unit], v);
    }
    set.values.clear();
    out.publishStoredMetrics();
  }

  /** Writes every gathered dimension set (end of each invocation; the handlers' middleware calls it). */
  flush(): void {
    for (const set of this.#sets.values()) this.#publish(set);
    this.#sets.clear();
  }
}

export const telemetry = new MetricsTelemetry(metrics);

/**
 * Middy middleware, in place of Powertools' `logMetrics`: the `ColdStart` metric at the first
 * invocation, then after each invocation, failed or not, the dimensioned samples and the totals.
 * `logMetrics` publishes the totals buffer even when it is empty, and Powertools then logs "No
 * application metrics to publish" for every invocation that counted nothing (a refused reconcile
 * request, a refresh with nothing to do); here such an invocation writes nothing.
 */
export function metricsMiddleware(
  t: MetricsTelemetry = telemetry,
  m: Metrics = metrics,
): middy.MiddlewareObj {
  const publish = async () => {
    t.flush();
    if (m.hasStoredMetrics()) m.publishStoredMetrics();
  };
  return {
    before: (request) => {
      m.captureColdStartMetric(request.context.functionName);
    },
    after: publish,
    onError: publish,
  };
}
