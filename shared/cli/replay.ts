import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Context } from 'aws-lambda';
import type { AppContext } from '../app/wiring.ts';
import type { InstanceHint, Intake } from '../domain/events.ts';
import type { Location } from '../domain/locations.ts';
import type { InstanceFacts } from '../domain/types.ts';
import { printEntries } from './entries-table.ts';
import { EXIT } from './exit.ts';
import { renderTable } from './table.ts';

/** A Lambda context for invocations made from the CLI. */
export function cliContext(functionName = 'vm-registrar-cli'): Context {
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:local:000000000000:function:${functionName}`,
    memoryLimitInMB: '512',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'cli',
    getRemainingTimeInMillis: () => 900_000,
    done: () => {},
    fail: () => {},
    succeed: () => {},
  };
}

/**
 * The Lambda SQS event a file stands for: a Lambda SQS event as is; anything else (an EventBridge
 * event, a lifecycle notification in text) as the body of one SQS record, which is how the queue
 * delivers it.
 */
export function toLambdaEvent(text: string, id: string): unknown {
  try {
    const value = JSON.parse(text) as { Records?: unknown };
    if (isSqsEvent(value)) return value;
  } catch {
    // Not JSON: a text notification, or garbage the registrar will reject on its own.
  }
  return {
    Records: [
      {
        messageId: id,
        receiptHandle: id,
        body: text,
        attributes: {
          ApproximateReceiveCount: '1',
          SentTimestamp: String(Date.now()),
          SenderId: 'vm-registrar-cli',
          ApproximateFirstReceiveTimestamp: String(Date.now()),
        },
        messageAttributes: {},
        md5OfBody: '',
        eventSource: 'aws:sqs',
        eventSourceARN: 'arn:aws:sqs:local:000000000000:vm-registrar-cli',
        awsRegion: process.env.AWS_REGION ?? 'us-east-1',
      },
    ],
  };
}

/** What replay did (or, dry run, would do) with one record. */
export type Decision =
  | 'created'
  | 'updated'
  | 'unchanged'
  | 'deleted'
  | 'kept'
  | 'ignored'
  | 'refused'
  | 'rejected'
  | 'failed';

export interface RecordReport {
  readonly file: string;
  /** 1-based position of the record in its file. */
  readonly record: number;
  readonly messageId?: string;
  readonly instanceId?: string;
  readonly decision: Decision;
  readonly reason: string;
  /** `namespace/name` of the entries created, updated, kept unchanged or deleted. */
  readonly entries?: readonly string[];
}

export interface ReplayOptions {
  readonly dryRun: boolean;
  readonly output: 'table' | 'json';
  readonly verbose?: boolean;
}

interface FileRecord {
  readonly id: string;
  readonly record: number;
  readonly messageId?: string;
  /** Exactly what the handler would pass to `Registrar.startBatch`. */
  readonly item:
    | { readonly id: string; readonly body: string }
    | { readonly id: string; readonly event: unknown };
}

/**
 * The same split the registrar handler makes: a Lambda SQS event is one batch of its records'
 * bodies, a Lambda SNS event one batch of its records' messages; anything else is one event
 * (EventBridge, an SNS envelope, a notification in JSON or text) that the registrar's intake reads
 * as is. The shapes themselves are the intake's business, not replay's.
 */
function isSqsEvent(value: unknown): value is { Records: Array<Record<string, unknown>> } {
  const records = (value as { Records?: unknown } | null)?.Records;
  return (
    Array.isArray(records) &&
    records.length > 0 &&
    records.every((r) => (r as { eventSource?: unknown } | null)?.eventSource === 'aws:sqs')
  );
}

async function recordsOf(file: string, text: string): Promise<FileRecord[]> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return [{ id: `${file}#1`, record: 1, item: { id: `${file}#1`, body: text } }];
  }
  const { snsRecords } = await import('../domain/events.ts');
  const sns = snsRecords(value);
  if (sns) {
    return sns.map((r, i) => {
      const id = `${file}#${i + 1}`;
      return { id, record: i + 1, messageId: r.id, item: { id, body: r.body } };
    });
  }
  if (!isSqsEvent(value)) return [{ id: `${file}#1`, record: 1, item: { id: `${file}#1`, event: value } }];
  return value.Records.map((r, i) => {
    const id = `${file}#${i + 1}`;
    const messageId = typeof r.messageId === 'string' ? r.messageId : undefined;
    return {
      id,
      record: i + 1,
      ...(messageId ? { messageId } : {}),
      item: typeof r.body === 'string' ? { id, body: r.body } : { id, event: r.body },
    };
  });
}

async function intakeOf(item: FileRecord['item']): Promise<Intake> {
  const { parseMessageBody, normaliseEvent } = await import('../domain/events.ts');
  return 'body' in item ? parseMessageBody(item.body) : normaliseEvent(item.event);
}

const errorText = (error: unknown) => (error instanceof Error ? error.message : String(error));

/**
 * `replay`: feeds each file through the registrar (its intake, its EC2 read, its decisions and
 * writes), one batch per file as SQS would deliver it, and reports every record's decision. With
 * `dryRun`, the same intake and the same domain decisions and rendering, and reads only.
 */
export async function runReplay(files: readonly string[], options: ReplayOptions): Promise<number> {
  if (!options.verbose) {
    // Every decision is in the report; the registrar's JSON log lines would say it twice.
    const { logger } = await import('../observability.ts');
    logger.setLogLevel('SILENT');
  }
  const { createApp } = await import('../app/wiring.ts');
  const app = createApp();
  const reports: RecordReport[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      reports.push({
        file,
        record: 0,
        decision: 'failed',
        reason: `cannot read the file: ${errorText(error)}`,
      });
      continue;
    }
    const records = await recordsOf(file, text);
    const decided = options.dryRun ? await planFile(app, records) : await replayFile(app, records);
    reports.push(...decided.map((d) => ({ file, ...d })));
  }

  const bad = reports.filter((r) => r.decision === 'rejected' || r.decision === 'failed').length;
  if (options.output === 'json') {
    process.stdout.write(`${JSON.stringify({ dryRun: options.dryRun, records: reports }, null, 2)}\n`);
  } else {
    process.stdout.write(`${formatReports(reports, options.dryRun)}\n`);
    if (!options.dryRun) {
      process.stdout.write('\n');
      await printEntries();
    }
  }
  return bad > 0 ? EXIT.errors : EXIT.ok;
}

export function formatReports(reports: readonly RecordReport[], dryRun: boolean): string {
  const table = renderTable(
    ['FILE', 'RECORD', 'INSTANCE', 'DECISION', 'ENTRY', 'REASON'],
    reports.map((r) => [
      r.file,
      r.record === 0 ? '-' : String(r.record),
      r.instanceId ?? '',
      r.decision,
      (r.entries ?? []).join(','),
      r.reason,
    ]),
  );
  const counts = new Map<Decision, number>();
  for (const r of reports) counts.set(r.decision, (counts.get(r.decision) ?? 0) + 1);
  const totals = [...counts].map(([d, n]) => `${n} ${d}`).join(', ');
  return `${table}\n${dryRun ? 'dry run, nothing written: ' : ''}${reports.length} records: ${totals}`;
}

type Decided = Omit<RecordReport, 'file'>;

const base = (r: FileRecord) => ({ record: r.record, ...(r.messageId ? { messageId: r.messageId } : {}) });

/** The registrar itself, writes included; entries seen before tell a create from an update. */
async function replayFile(app: AppContext, records: readonly FileRecord[]): Promise<Decided[]> {
  const intakes = await Promise.all(records.map((r) => intakeOf(r.item)));
  const before = new Map<string, Set<string>>();
  for (const intake of intakes) {
    if (intake.kind !== 'hint' || before.has(intake.hint.instanceId)) continue;
    const found = await app.kube
      .findEntriesForInstance(app.config.allowedNamespaces, intake.hint.instanceId)
      .catch(() => []);
    before.set(
      intake.hint.instanceId,
      new Set(found.map((e) => `${e.metadata.namespace}/${e.metadata.name}`)),
    );
  }
  const batch = app.registrar.startBatch(records.map((r) => r.item));
  const out: Decided[] = [];
  for (const r of records) {
    try {
      const result = await batch.process(r.id);
      if (result.kind === 'rejected') out.push({ ...base(r), decision: 'rejected', reason: result.reason });
      else if (result.kind === 'ignored')
        out.push({ ...base(r), decision: 'ignored', reason: result.reason });
      else if (result.kind === 'deferred')
        out.push({
          ...base(r),
          instanceId: result.instanceId,
          decision: 'failed',
          reason: `${result.error} (its lifecycle action comes back by a continuation)`,
        });
      else {
        const o = result.outcome;
        const instanceId = result.instanceId;
        switch (o.action) {
          case 'applied':
          case 'unchanged': {
            const existed = before.get(instanceId)?.has(o.entry) ?? false;
            const decision = o.action === 'unchanged' ? 'unchanged' : existed ? 'updated' : 'created';
            const reason =
              decision === 'unchanged' ? 'entry already matches EC2' : 'instance is in service and tagged';
            out.push({ ...base(r), instanceId, decision, reason, entries: [o.entry] });
            break;
          }
          case 'deleted':
            out.push(
              o.entries.length > 0
                ? { ...base(r), instanceId, decision: 'deleted', reason: o.reason, entries: o.entries }
                : {
                    ...base(r),
                    instanceId,
                    decision: 'unchanged',
                    reason: `${o.reason}; no entry to delete`,
                  },
            );
            break;
          case 'kept':
          case 'ignored':
            out.push({ ...base(r), instanceId, decision: o.action, reason: o.reason });
            break;
          case 'refused':
            out.push({
              ...base(r),
              instanceId,
              decision: 'refused',
              reason: `${o.refusal.reason}: ${o.refusal.message}`,
            });
            break;
          default: {
            // An outcome this report does not know yet still gets its row, never silence.
            const unknown = o as { action: string };
            out.push({
              ...base(r),
              instanceId,
              decision: 'unchanged',
              reason: `outcome "${unknown.action}"`,
            });
          }
        }
      }
    } catch (error) {
      out.push({
        ...base(r),
        decision: 'failed',
        reason: `${errorText(error)} (SQS would deliver it again)`,
      });
    }
  }
  return out;
}

/**
 * Dry run: the registrar's intake, its EC2 read and the domain's own decision and rendering
 * (`decideInstance`, `renderWorkloadEntry`, `entryMatches`), with Kubernetes only read.
 */
async function planFile(app: AppContext, records: readonly FileRecord[]): Promise<Decided[]> {
  const { awaitsLaunchVisibility, decideInstance, verifyHint } = await import('../domain/decide.ts');
  const { entryMatches, isManaged, renderWorkloadEntry } = await import('../domain/workload-entry.ts');
  const { launchGateHolds, rebalanceDeregisters } = await import('../domain/lifecycle.ts');
  const { entryLocation, locationKey, sameLocation } = await import('../domain/locations.ts');
  const intakes = await Promise.all(records.map((r) => intakeOf(r.item)));
  // One read per account/region, each where its instances live (as the registrar does).
  const wanted = new Map<string, { location: Location; ids: Set<string> }>();
  for (const intake of intakes) {
    if (intake.kind !== 'hint') continue;
    const located = app.registrar.locate(intake.hint);
    if (located.kind === 'unknown') continue;
    const key = locationKey(located.location);
    if (!wanted.has(key)) wanted.set(key, { location: located.location, ids: new Set() });
    wanted.get(key)!.ids.add(intake.hint.instanceId);
  }
  const reads = new Map<string, { facts?: Map<string, InstanceFacts>; error?: string }>();
  for (const [key, { location, ids }] of wanted) {
    try {
      reads.set(key, { facts: await app.registrar.describe([...ids], location) });
    } catch (error) {
      reads.set(key, { error: errorText(error) });
    }
  }

  const decide = async (hint: InstanceHint): Promise<Omit<Decided, 'record' | 'messageId'>> => {
    const instanceId = hint.instanceId;
    const located = app.registrar.locate(hint);
    if (located.kind === 'unknown') return { instanceId, decision: 'ignored', reason: located.reason };
    const { facts, error: readError } = reads.get(locationKey(located.location)) ?? {};
    if (!facts) return { instanceId, decision: 'failed', reason: `EC2 read failed: ${readError}` };
    const f = facts.get(instanceId);
    if (awaitsLaunchVisibility(f, hint, Date.now())) {
      return {
        instanceId,
        decision: 'failed',
        reason: 'not visible in EC2 yet (just launched); retried later',
      };
    }
    // The steps of Registrar.converge, in its order, with the domain's own functions.
    const check = verifyHint(f, hint);
    if (check.kind === 'undetermined')
      return { instanceId, decision: 'failed', reason: `${check.reason}; retried later` };
    const unverified = check.kind === 'unverified' ? `; hint not acted on: ${check.reason}` : '';
    const intent = decideInstance(f, check.kind === 'verified' ? hint : undefined, app.config);
    if (intent.kind === 'register' && f?.autoScalingStateUnknown) {
      return {
        instanceId,
        decision: 'failed',
        reason: 'its Auto Scaling lifecycle state could not be read; retried later',
      };
    }
    const lifecycle = unverified + lifecycleNote(app, hint);
    switch (intent.kind) {
      case 'ignore':
        return { instanceId, decision: 'ignored', reason: intent.reason };
      case 'keep':
        return { instanceId, decision: 'kept', reason: intent.reason + lifecycle };
      case 'refuse':
        return {
          instanceId,
          decision: 'refused',
          reason: `${intent.refusal.reason}: ${intent.refusal.message}`,
        };
      case 'deregister': {
        const fleet = app.config.fleet;
        const found = (
          await app.kube.findEntriesForInstance(app.config.allowedNamespaces, instanceId)
        ).filter(
          (e) =>
            isManaged(e) &&
            (fleet.spokes.length === 0 || sameLocation(entryLocation(e, fleet), located.location)),
        );
        const entries = found.map((e) => `${e.metadata.namespace}/${e.metadata.name}`);
        return entries.length > 0
          ? { instanceId, decision: 'deleted', reason: intent.reason + lifecycle, entries }
          : { instanceId, decision: 'unchanged', reason: `${intent.reason}; no entry to delete${lifecycle}` };
      }
      case 'register': {
        const { namespace, name } = intent.group;
        const group = await app.groups.get(namespace, name);
        if (!group) {
          return {
            instanceId,
            decision: 'refused',
            reason: `workload-group-not-found: WorkloadGroup ${namespace}/${name} does not exist`,
          };
        }
        const rendered = renderWorkloadEntry(f!, group, intent.network ? { network: intent.network } : {});
        if (!rendered.ok) {
          return {
            instanceId,
            decision: 'refused',
            reason: `${rendered.refusal.reason}: ${rendered.refusal.message}`,
          };
        }
        const desired = rendered.entry;
        const key = `${desired.metadata.namespace}/${desired.metadata.name}`;
        if (
          hint.source === 'ec2-rebalance-recommendation' &&
          check.kind === 'verified' &&
          rebalanceDeregisters(group)
        ) {
          const fleet = app.config.fleet;
          const found = (
            await app.kube.findEntriesForInstance(app.config.allowedNamespaces, instanceId)
          ).filter(
            (e) =>
              isManaged(e) &&
              (fleet.spokes.length === 0 || sameLocation(entryLocation(e, fleet), located.location)),
          );
          const entries = found.map((e) => `${e.metadata.namespace}/${e.metadata.name}`);
          const reason = 'rebalance recommendation (the group opts in to deregistering)';
          return entries.length > 0
            ? { instanceId, decision: 'deleted', reason, entries }
            : { instanceId, decision: 'unchanged', reason: `${reason}; no entry to delete` };
        }
        if (launchGateHolds(f!, group)) {
          return {
            instanceId,
            decision: 'kept',
            reason: `held back until the launch gate (probe) passes${lifecycle}`,
          };
        }
        const live = await app.kube.getWorkloadEntry(desired.metadata.namespace, desired.metadata.name);
        if (live && !isManaged(live)) {
          return {
            instanceId,
            decision: 'refused',
            reason: `entry-not-owned: WorkloadEntry ${key} exists and is not managed by the registrar`,
          };
        }
        if (entryMatches(live, desired)) {
          return {
            instanceId,
            decision: 'unchanged',
            reason: `entry already matches EC2${lifecycle}`,
            entries: [key],
          };
        }
        return {
          instanceId,
          decision: live ? 'updated' : 'created',
          reason: `instance is in service and tagged${lifecycle}`,
          entries: [key],
        };
      }
    }
  };

  const out: Decided[] = [];
  for (const [i, r] of records.entries()) {
    const intake = intakes[i]!;
    if (intake.kind === 'reject') out.push({ ...base(r), decision: 'rejected', reason: intake.reason });
    else if (intake.kind === 'ignore') out.push({ ...base(r), decision: 'ignored', reason: intake.reason });
    else {
      try {
        out.push({ ...base(r), ...(await decide(intake.hint)) });
      } catch (error) {
        out.push({
          ...base(r),
          instanceId: intake.hint.instanceId,
          decision: 'failed',
          reason: errorText(error),
        });
      }
    }
  }
  return out;
}

function lifecycleNote(app: AppContext, hint: InstanceHint): string {
  const action = hint.lifecycleAction;
  if (!action || !app.config.completeLifecycleActions) return '';
  if (!app.config.lifecycleHookNames.includes(action.lifecycleHookName))
    return `; lifecycle action of ${action.lifecycleHookName} left to its owner`;
  // With a queue, a terminate action waits the drain period and a gated launch its gate first.
  const waits = app.config.lifecycleQueueUrl ? ' (after the drain period or launch gate, if any)' : '';
  return `; would complete the ${action.lifecycleHookName} lifecycle action${waits}`;
}
