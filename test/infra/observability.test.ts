import { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { isDefinedDimensionSet, METRICS, type MetricName } from '../../shared/metrics.ts';
import { buildTestApp } from './helpers.ts';

/**
 * The dashboard and the alarms are built from shared/metrics.ts: every custom metric a widget or an
 * alarm reads is one the code emits, with a dimension set it emits it with; the alarms on time to
 * mesh, persistent drift and lifecycle actions not completed by the registrar have their metric,
 * threshold and action.
 */
const TOPIC = 'arn:aws:sns:us-west-2:111122223333:oncall';
let template: Template;
let namespace: string;
let service: string;

beforeAll(() => {
  const built = buildTestApp({ alarmTopicArn: TOPIC });
  const stack = built.registrarStack!;
  template = Template.fromStack(stack);
  namespace = stack.registrar.functions.metricsNamespace;
  service = stack.registrar.functions.serviceName;
});

/** The dashboard body as JSON (tokens of the Fn::Join replaced by a placeholder). */
function dashboardBody(): { widgets: Array<{ properties: { title?: string; metrics?: unknown[][] } }> } {
  const [dashboard] = Object.values(template.findResources('AWS::CloudWatch::Dashboard'));
  const body = dashboard!.Properties.DashboardBody as string | { 'Fn::Join': [string, unknown[]] };
  const text =
    typeof body === 'string'
      ? body
      : body['Fn::Join'][1].map((part) => (typeof part === 'string' ? part : 'TOKEN')).join('');
  return JSON.parse(text);
}

/** A custom metric reference: its name and the dimension names besides `service`. */
interface Reference {
  readonly where: string;
  readonly name: string;
  readonly dimensions: string[];
}

/** References in Metrics Insights queries (`SUM(X) FROM SCHEMA(ns, service, ...)`) and SEARCH expressions. */
function fromExpression(where: string, expression: string): Reference[] {
  const out: Reference[] = [];
  const insights = /SUM\((\w+)\) FROM SCHEMA\("([^"]+)", ([^)]*)\)/.exec(expression);
  if (insights) {
    expect(insights[2], where).toBe(namespace);
    const dims = insights[3]!.split(',').map((d) => d.trim());
    expect(dims[0], where).toBe('service');
    out.push({ where, name: insights[1]!, dimensions: dims.slice(1) });
  }
  const search = /SEARCH\('\{([^}]+)\} MetricName="(\w+)"/.exec(expression);
  if (search) {
    const [ns, svc, ...dims] = search[1]!.split(',');
    expect([ns, svc], where).toEqual([namespace, 'service']);
    out.push({ where, name: search[2]!, dimensions: dims });
  }
  if (!insights && !search && /SELECT|SEARCH/.test(expression))
    throw new Error(`${where}: unreadable expression ${expression}`);
  return out;
}

function widgetReferences(): Reference[] {
  const out: Reference[] = [];
  for (const widget of dashboardBody().widgets) {
    const where = `widget "${widget.properties.title}"`;
    for (const metric of widget.properties.metrics ?? []) {
      const options = metric.find((m) => typeof m === 'object' && m !== null) as
        | { expression?: string }
        | undefined;
      if (options?.expression) {
        out.push(...fromExpression(where, options.expression));
        continue;
      }
      const strings = metric.filter((m): m is string => typeof m === 'string');
      if (strings[0] !== namespace) continue;
      const dims: string[] = [];
      for (let i = 2; i + 1 < strings.length; i += 2) dims.push(strings[i]!);
      expect(dims, where).toContain('service');
      out.push({ where, name: strings[1]!, dimensions: dims.filter((d) => d !== 'service') });
    }
  }
  return out;
}

function alarmReferences(): Reference[] {
  const out: Reference[] = [];
  for (const [id, alarm] of Object.entries(template.findResources('AWS::CloudWatch::Alarm'))) {
    const p = alarm.Properties;
    if (p.Namespace === namespace) {
      const dims = (p.Dimensions as Array<{ Name: string }>).map((d) => d.Name);
      expect(dims, id).toContain('service');
      out.push({ where: `alarm ${id}`, name: p.MetricName, dimensions: dims.filter((d) => d !== 'service') });
    }
    for (const m of (p.Metrics as Array<{ Expression?: string }> | undefined) ?? []) {
      if (m.Expression) out.push(...fromExpression(`alarm ${id}`, m.Expression));
    }
  }
  return out;
}

const alarm = (idPart: string) => {
  const found = Object.entries(template.findResources('AWS::CloudWatch::Alarm')).filter(([id]) =>
    id.includes(idPart),
  );
  expect(found, idPart).toHaveLength(1);
  return found[0]![1].Properties;
};

describe('Dashboard and alarms from the metric definition list (shared/metrics.ts)', () => {
  it('every widget reads a metric the code emits, with a dimension set it emits it with', () => {
    const refs = widgetReferences();
    expect(refs.length).toBeGreaterThan(30);
    for (const r of refs) {
      expect(r.name in METRICS, `${r.where}: ${r.name}`).toBe(true);
      expect(isDefinedDimensionSet(r.name, r.dimensions), `${r.where}: ${r.name} [${r.dimensions}]`).toBe(
        true,
      );
    }
  });

  it('every alarm on a custom metric reads a metric the code emits, with a dimension set it emits it with', () => {
    const refs = alarmReferences();
    expect(refs.length).toBeGreaterThan(5);
    for (const r of refs) {
      expect(isDefinedDimensionSet(r.name, r.dimensions), `${r.where}: ${r.name} [${r.dimensions}]`).toBe(
        true,
      );
    }
  });

  it('shows every defined metric somewhere on the dashboard', () => {
    const shown = new Set(widgetReferences().map((r) => r.name));
    const missing = (Object.keys(METRICS) as MetricName[]).filter((name) => !shown.has(name));
    expect(missing).toEqual([]);
  });

  it('opens with the row that answers "is it healthy": errors, DLQ depth, oldest message age, time to mesh p50/p99', () => {
    const titles = dashboardBody().widgets.map((w) => w.properties.title);
    const first = titles.indexOf('Errors');
    expect(titles.slice(first, first + 4)).toEqual([
      'Errors',
      'Dead-letter queue depth',
      'Oldest queued event (s)',
      'Time to mesh (ms)',
    ]);
    const ttm = dashboardBody().widgets.find((w) => w.properties.title === 'Time to mesh (ms)')!;
    const stats = ttm.properties.metrics!.map((m) => (m.at(-1) as { stat: string }).stat);
    expect(stats).toEqual(['p50', 'p99', 'p50', 'p99']);
  });

  it('alarms on time to mesh p99 of registrations over two minutes, three periods in a row, to the topic', () => {
    const p = alarm('TimeToMeshP99High');
    expect(p).toMatchObject({
      Namespace: namespace,
      MetricName: 'TimeToMesh',
      Dimensions: expect.arrayContaining([
        { Name: 'service', Value: service },
        { Name: 'Action', Value: 'register' },
      ]),
      ExtendedStatistic: 'p99',
      Period: 300,
      Threshold: 120_000,
      EvaluationPeriods: 3,
      ComparisonOperator: 'GreaterThanThreshold',
      AlarmActions: [TOPIC],
      OKActions: [TOPIC],
    });
  });

  it('alarms on drift found on three sweeps in a row (drift summed over kinds, once per sweep)', () => {
    const p = alarm('ReconcileDriftPersistent');
    expect(p).toMatchObject({ Threshold: 0, EvaluationPeriods: 3, AlarmActions: [TOPIC] });
    const [query] = p.Metrics as Array<{ Expression: string; Period: number }>;
    expect(query!.Expression).toBe(
      `SELECT SUM(ReconcileDrift) FROM SCHEMA("${namespace}", service, Kind) WHERE service = '${service}'`,
    );
    expect(query!.Period).toBe(300);
  });

  it('alarms on lifecycle actions that were gone when the registrar completed them (completed by their timeout)', () => {
    const p = alarm('LifecycleActionsNotCompletedByRegistrar');
    expect(p).toMatchObject({
      MetricName: 'LifecycleActionsNotPending',
      Statistic: 'Sum',
      Threshold: 0,
      AlarmActions: [TOPIC],
    });
  });

  it('counts refusals once: the alarm sums the Reason set only, not the WorkloadGroup set as well', () => {
    const p = alarm('InstancesRefused');
    const [query] = p.Metrics as Array<{ Expression: string }>;
    expect(query!.Expression).toContain('FROM SCHEMA("');
    expect(query!.Expression).toContain(', service, Reason)');
  });
});

describe('EventBridge bus for the registrar events (eventBusArn)', () => {
  it('grants events:PutEvents on that bus only, to both functions, and sets EVENT_BUS', () => {
    // Prepare
    const bus = 'arn:aws:events:us-west-2:111122223333:event-bus/platform';
    const built = buildTestApp({ eventBusArn: bus });
    const t = Template.fromStack(built.registrarStack!);

    // Act
    const statements = Object.values(t.findResources('AWS::IAM::Policy')).flatMap(
      (p) => p.Properties.PolicyDocument.Statement as Array<{ Action: string | string[]; Resource: unknown }>,
    );
    const puts = statements.filter((s) => [s.Action].flat().includes('events:PutEvents'));
    const functions = Object.values(t.findResources('AWS::Lambda::Function')).filter(
      (f) => f.Properties.Environment?.Variables?.ALLOWED_NAMESPACES,
    );

    // Assess
    expect(puts).toHaveLength(2);
    for (const s of puts) expect(s).toMatchObject({ Action: 'events:PutEvents', Resource: bus });
    expect(functions.map((f) => f.Properties.Environment.Variables.EVENT_BUS)).toEqual([bus, bus]);
  });

  it('refuses an eventBusArn that is not an event bus ARN', () => {
    expect(() => buildTestApp({ eventBusArn: 'platform' })).toThrow(
      /eventBusArn: "platform" is not an EventBridge event bus ARN/,
    );
  });
});
