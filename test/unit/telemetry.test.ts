import { Metrics } from '@aws-lambda-powertools/metrics';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { describeDrift, parseDrift, timeToMesh } from '../../shared/domain/notifications.ts';
import { METRICS, Metric } from '../../shared/metrics.ts';
import { MetricsTelemetry, metricsMiddleware, UndefinedMetricError } from '../../shared/observability.ts';

afterEach(() => {
  vi.restoreAllMocks();
  vi.unstubAllEnvs();
});

describe('Class: MetricsTelemetry', () => {
  const setup = (max = 2) => {
    const totals = new Metrics({ namespace: 'Test', serviceName: 'istio-vm-registrar' });
    const added = vi.spyOn(totals, 'addMetric');
    const published: Array<{ dims: Record<string, string>; metrics: Array<[string, number]> }> = [];
    vi.spyOn(Metrics.prototype, 'publishStoredMetrics').mockImplementation(function (this: Metrics) {
      const out = this.serializeMetrics() as unknown as Record<string, unknown> & {
        _aws: { CloudWatchMetrics: Array<{ Dimensions: string[][]; Metrics: Array<{ Name: string }> }> };
      };
      const cw = out._aws.CloudWatchMetrics[0]!;
      published.push({
        dims: Object.fromEntries(cw.Dimensions[0]!.map((d) => [d, String(out[d])])),
        metrics: cw.Metrics.map((m) => [m.Name, out[m.Name] as number]),
      });
      this.clearMetrics();
      return this;
    });
    const t = new MetricsTelemetry(totals);
    t.setMaxWorkloadGroups(max);
    return { t, added, published };
  };

  it('refuses a metric or a dimension set shared/metrics.ts does not define', () => {
    const { t } = setup();
    expect(() => t.count('Nope' as never)).toThrow(UndefinedMetricError);
    expect(() => t.count(Metric.EntriesUnchanged, 1, { WorkloadGroup: 'a/b' })).toThrow(/EntriesUnchanged/);
    expect(() => t.milliseconds(Metric.TimeToMesh, 5)).toThrow(
      /TimeToMesh is not defined with dimensions \[\]/,
    );
  });

  it('sends totals to the shared buffer and gathers each dimension set into one document at flush', () => {
    const { t, added, published } = setup();
    t.count(Metric.EntriesApplied);
    for (let i = 0; i < 3; i++) t.count(Metric.EntriesApplied, 1, { WorkloadGroup: 'ns/a' });
    t.count(Metric.InstancesRefused, 1, { WorkloadGroup: 'ns/a' });
    t.milliseconds(Metric.TimeToMesh, 1200.4, { Action: 'register' });
    t.milliseconds(Metric.TimeToMesh, 800, { Action: 'register' });
    expect(added).toHaveBeenCalledWith('EntriesApplied', 'Count', 1);
    expect(published).toEqual([]);

    t.flush();

    expect(published).toContainEqual({
      dims: { service: 'istio-vm-registrar', WorkloadGroup: 'ns/a' },
      metrics: [
        ['EntriesApplied', 3],
        ['InstancesRefused', 1],
      ],
    });
    expect(published).toContainEqual({
      dims: { service: 'istio-vm-registrar', Action: 'register' },
      metrics: [['TimeToMesh', [1200, 800] as unknown as number]],
    });
  });

  it('caps the distinct WorkloadGroup values per container and counts the rest as "other"', () => {
    const { t, published } = setup(2);
    for (const g of ['ns/a', 'ns/b', 'ns/c', 'ns/d', 'ns/a'])
      t.count(Metric.EntriesApplied, 1, { WorkloadGroup: g });
    t.flush();
    const groups = published.map((p) => [p.dims.WorkloadGroup, p.metrics[0]![1]]);
    expect(groups).toEqual([
      ['ns/a', 2],
      ['ns/b', 1],
      ['other', 2],
    ]);
  });

  it('defines every metric with a unit, at least one dimension set and a description', () => {
    for (const [name, d] of Object.entries(METRICS)) {
      expect(d.dimensions.length, name).toBeGreaterThan(0);
      expect(d.description.length, name).toBeGreaterThan(10);
      for (const set of d.dimensions) expect(set, name).not.toContain('InstanceId');
    }
  });
});

describe('Function: timeToMesh()', () => {
  const written = Date.parse('2026-11-26T09:00:02.500Z');
  it.each([
    ['a plausible event time', '2026-11-26T09:00:00Z', 2500],
    ['a clock slightly behind the event', '2026-11-26T09:00:30Z', 0],
    ['an event time that does not parse (AWS samples)', '{{time}}', undefined],
    ['an event over a day old (a redrive)', '2026-11-24T09:00:00Z', undefined],
    ['an event over a minute in the future', '2026-11-26T09:05:00Z', undefined],
    ['no event time', undefined, undefined],
  ])('%s', (_, time, expected) => {
    expect(timeToMesh(time, written, 24 * 3600_000)).toBe(expected);
  });
});

describe('Function: parseDrift()', () => {
  it('reads back what describeDrift writes, and nothing else', () => {
    const d = { missing: 1, stale: 2, changed: 0, foreign: 3 };
    expect(parseDrift(describeDrift(d))).toEqual(d);
    expect(parseDrift('in step: 3 entries')).toBeUndefined();
  });
});

describe('Middleware: metricsMiddleware', () => {
  const lambdaContext = { functionName: 'registrar-fn' } as never;
  const capture = () => {
    // Metrics on (the suite turns them off; Powertools reads this when an instance is made).
    vi.stubEnv('POWERTOOLS_METRICS_DISABLED', 'false');
    const warn = vi.fn();
    const metrics = new Metrics({
      namespace: 'Test',
      serviceName: 'istio-vm-registrar',
      logger: { warn, debug: vi.fn(), info: vi.fn(), error: vi.fn() } as never,
    });
    const lines: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: unknown) => {
      lines.push(
        ...String(chunk)
          .split('\n')
          .filter((l) => l.startsWith('{')),
      );
      return true;
    });
    return { metrics, lines, warn };
  };

  it('an invocation that counted nothing writes nothing and warns nothing; one that counted publishes once', async () => {
    // Prepare
    const { metrics, lines, warn } = capture();
    const t = new MetricsTelemetry(metrics);
    const middleware = metricsMiddleware(t, metrics);
    const request = { context: lambdaContext } as never;
    vi.spyOn(metrics, 'captureColdStartMetric').mockImplementation(() => undefined);

    // Act: an empty invocation, then one that counts a total and a dimensioned sample
    await middleware.before!(request);
    await middleware.after!(request);
    const afterEmpty = lines.length;
    await middleware.before!(request);
    t.count(Metric.EventsReceived, 3);
    t.count(Metric.EventsFailed, 1, { WorkloadGroup: 'bookinfo/reviews' });
    await middleware.onError!(request);

    // Assess
    expect(afterEmpty).toBe(0);
    expect(warn).not.toHaveBeenCalled();
    const docs = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(docs.map((d) => [d.EventsReceived, d.EventsFailed, d.WorkloadGroup])).toEqual(
      expect.arrayContaining([
        [3, undefined, undefined],
        [undefined, 1, 'bookinfo/reviews'],
      ]),
    );
    expect(docs).toHaveLength(2);
  });
});
