import type { ReconcileRequest, ReconcileSummary } from '../app/reconciler.ts';
import { INSTANCE_ID_LABEL, WORKLOAD_GROUP_TAG } from '../constants.ts';
import { logger, telemetry } from '../observability.ts';
import { EXIT } from './exit.ts';
import { groupHealth, renderGroupHealth } from './health.ts';
import { renderTable } from './table.ts';

async function reconciler() {
  const { createApp } = await import('../app/wiring.ts');
  const { Reconciler } = await import('../app/reconciler.ts');
  const app = createApp();
  return { app, reconciler: new Reconciler({ ...app, logger, telemetry }) };
}

/**
 * Progress on stderr with the elapsed time and, for a message that starts a count ("listed 5000
 * instances", "applied 500/1000"), the rate since the step began. One line rewritten on a terminal.
 */
export function progressReporter(
  write: (text: string) => void = (t) => process.stderr.write(t),
  tty = process.stderr.isTTY === true,
  now: () => number = () => performance.now(),
): (message: string) => void {
  const start = now();
  let step = '';
  let stepStart = start;
  let last = start;
  return (message) => {
    const t = now();
    const verb = message.split(' ', 1)[0] ?? '';
    if (verb !== step) {
      // A step begins where the one before it reported last.
      stepStart = last;
      step = verb;
    }
    last = t;
    const count = /^\S+ (\d+)/.exec(message)?.[1];
    const seconds = (t - stepStart) / 1000;
    const rate = count && seconds > 0 ? `, ${Math.round(Number(count) / seconds)}/s` : '';
    const line = `${message} (${((t - start) / 1000).toFixed(1)} s${rate})`;
    write(tty ? `\r\x1b[K${line}` : `${line}\n`);
  };
}

/** Exit code for a summary: safety stop 2, errors 1, else 0. */
export function exitCodeFor(summary: ReconcileSummary): number {
  if (summary.safetyStops.length > 0) return EXIT.safetyStop;
  if (summary.errors.length > 0) return EXIT.errors;
  return EXIT.ok;
}

export function formatSummary(summary: ReconcileSummary, summaryOnly = false): string {
  const lines: string[] = [];
  // Under a safety stop the totals are what the other groups applied: "applied 0" would read as done.
  const mode = summary.dryRun ? 'dry run: planned' : summary.safetyStops.length > 0 ? 'stopped:' : 'applied';
  if (summary.changes.length > 0 && !summaryOnly) {
    lines.push(
      renderTable(
        ['ACTION', 'ENTRY', 'GROUP', 'INSTANCE', 'STATUS', 'REASON'],
        summary.changes.map((c) => [
          c.action,
          c.entry,
          c.group,
          c.instanceId ?? '',
          c.status,
          c.error ?? c.reason,
        ]),
      ),
      '',
    );
  }
  const groups = Object.entries(summary.groups).sort(([a], [b]) => a.localeCompare(b));
  if (!summaryOnly) {
    lines.push(
      renderTable(
        ['GROUP', 'CREATE', 'UPDATE', 'DELETE', 'UNCHANGED', 'REFUSED', 'FAILED'],
        groups.map(([g, c]) =>
          [g, c.create, c.update, c.delete, c.unchanged, c.refused, c.failed].map(String),
        ),
      ),
    );
    for (const r of summary.refusals) lines.push(`refused ${r.instanceId}: ${r.message}`);
  }
  const services = summary.services;
  if (services && !summaryOnly) {
    if (services.changes.length > 0) {
      lines.push(
        '',
        renderTable(
          ['ACTION', 'KIND', 'NAME', 'GROUP', 'STATUS', 'REASON'],
          services.changes.map((c) => [c.action, c.kind, c.name, c.group, c.status, c.error ?? c.reason]),
        ),
      );
    }
    for (const r of services.refusals)
      lines.push(`refused services of ${r.group}${r.object ? ` (${r.object})` : ''}: ${r.message}`);
  }
  for (const s of summary.safetyStops) lines.push(`SAFETY STOP ${s.group}: ${s.message}`);
  if (summary.incompleteListing)
    lines.push(`INCOMPLETE: ${summary.incompleteListing}; no deletions were made`);
  for (const e of summary.errors) lines.push(`error: ${e}`);
  const t = summary.totals;
  lines.push(
    `${mode} ${t.create} create, ${t.update} update, ${t.delete} delete; ${t.unchanged} unchanged; ` +
      `${t.refused} refused, ${t.failed} failed; ` +
      `${summary.reads.instances} instances, ${summary.reads.entries} entries read in ${summary.durationMs} ms`,
  );
  if (services) {
    const done = services.changes.filter((c) => c.status === (summary.dryRun ? 'planned' : 'applied')).length;
    lines.push(
      `services: ${done} ${summary.dryRun ? 'planned' : 'applied'}, ${services.unchanged} unchanged, ` +
        `${services.refusals.length} refused, ${services.changes.filter((c) => c.status === 'failed').length} failed`,
    );
  }
  return lines.join('\n');
}

export async function runReconcile(
  request: ReconcileRequest,
  options: { output: 'table' | 'json'; summaryOnly?: boolean },
): Promise<number> {
  const { reconciler: r } = await reconciler();
  const summary = await r.run(request, progressReporter());
  if (process.stderr.isTTY) process.stderr.write('\r\x1b[K');
  if (options.output === 'json') {
    // Totals only: the per-change list is what grows with the fleet.
    const { changes: _changes, groups: _groups, refusals: _refusals, ...totals } = summary;
    const body = options.summaryOnly ? totals : summary;
    process.stdout.write(`${JSON.stringify(body, null, 2)}\n`);
  } else {
    process.stdout.write(`${formatSummary(summary, options.summaryOnly)}\n`);
  }
  return exitCodeFor(summary);
}

/** One row of `status`: an instance and its entry, or an entry whose instance EC2 did not list. */
export interface StatusRow {
  readonly group: string;
  readonly instanceId: string;
  /** EC2 state, or `(not listed)`. */
  readonly state: string;
  readonly privateIp: string;
  readonly entry: string;
  readonly entryAddress: string;
  /** `in step`, `needs create|update|delete`, `refused: <reason>`, `stale (delete withheld)`. */
  readonly status: string;
}

/** `status`: each group with its instances and entries side by side, and what is out of step. */
export async function runStatus(namespaces: readonly string[], output: 'table' | 'json'): Promise<number> {
  const { app, reconciler: r } = await reconciler();
  const seen = await r.observe(namespaces.length > 0 ? { namespaces } : {}, progressReporter());
  if (process.stderr.isTTY) process.stderr.write('\r\x1b[K');
  const tagKey = `${app.config.tagPrefix}${WORKLOAD_GROUP_TAG}`;
  const entryByInstance = new Map(seen.entries.map((e) => [e.metadata.labels?.[INSTANCE_ID_LABEL] ?? '', e]));
  const pending = new Map(seen.plan.changes.map((c) => [`${c.namespace}/${c.name}`, c]));
  const pendingByInstance = new Map(seen.plan.changes.map((c) => [c.instanceId ?? '', c]));
  const refusals = new Map(seen.plan.refusals.map((x) => [x.instanceId, x.refusal]));
  const withheld = new Set(seen.plan.withheldDeletes.map((d) => `${d.namespace}/${d.name}`));
  const rows: StatusRow[] = [];
  const instanceIds = new Set<string>();
  for (const f of seen.instances) {
    const group = f.tags[tagKey] ?? '';
    if (!seen.inScope(group)) continue;
    instanceIds.add(f.instanceId);
    const entry = entryByInstance.get(f.instanceId);
    const key = entry ? `${entry.metadata.namespace}/${entry.metadata.name}` : '';
    const change = pendingByInstance.get(f.instanceId);
    const refusal = refusals.get(f.instanceId);
    const state = change ? `needs ${change.action}` : refusal ? `refused: ${refusal.reason}` : 'in step';
    rows.push({
      group,
      instanceId: f.instanceId,
      state: f.state,
      privateIp: f.privateIpAddress ?? '',
      entry: key,
      entryAddress: entry?.spec.address ?? '',
      status: state,
    });
  }
  for (const e of seen.entries) {
    const id = e.metadata.labels?.[INSTANCE_ID_LABEL] ?? '';
    if (instanceIds.has(id)) continue;
    const key = `${e.metadata.namespace}/${e.metadata.name}`;
    const change = pending.get(key);
    const state = change
      ? `needs ${change.action}`
      : withheld.has(key)
        ? 'stale (delete withheld)'
        : 'in step';
    rows.push({
      group: '',
      instanceId: id,
      state: '(not listed)',
      privateIp: '',
      entry: key,
      entryAddress: e.spec.address ?? '',
      status: state,
    });
  }
  rows.sort((a, b) => a.group.localeCompare(b.group) || a.instanceId.localeCompare(b.instanceId));
  // Services, ServiceEntries and direct slices of the groups that ask for them.
  const services = seen.services ? [...seen.services.plan.rows] : undefined;
  services?.sort((a, b) => a.group.localeCompare(b.group) || a.object.localeCompare(b.object));
  const outOfStep =
    rows.filter((row) => row.status !== 'in step').length +
    (services ?? []).filter((row) => !row.status.startsWith('in step')).length;
  const groups = await groupHealth(app, seen, rows);
  if (output === 'json') {
    process.stdout.write(
      `${JSON.stringify({ rows, ...(services ? { services } : {}), groups, outOfStep, errors: seen.errors }, null, 2)}\n`,
    );
  } else {
    const serviceTable = services?.length
      ? `\n${renderTable(
          ['GROUP', 'OBJECT', 'STATUS'],
          services.map((r) => [r.group, r.object, r.status]),
        )}\n`
      : '';
    process.stdout.write(
      `${renderTable(
        ['GROUP', 'INSTANCE', 'STATE', 'PRIVATE IP', 'ENTRY', 'ENTRY ADDRESS', 'STATUS'],
        rows.map((r) => [r.group, r.instanceId, r.state, r.privateIp, r.entry, r.entryAddress, r.status]),
      )}\n${serviceTable}\n${renderGroupHealth(groups)}\n` +
        `${outOfStep} out of step${seen.errors.length ? `; errors: ${seen.errors.join('; ')}` : ''}\n`,
    );
  }
  return seen.errors.length > 0 ? EXIT.errors : EXIT.ok;
}
