import type { ReconcileRequest, ReconcileSummary } from '../app/reconciler.ts';
import { INSTANCE_ID_LABEL, WORKLOAD_GROUP_TAG } from '../constants.ts';
import { logger, telemetry } from '../observability.ts';
import { EXIT } from './exit.ts';
import { renderTable } from './table.ts';

async function reconciler() {
  const { createApp } = await import('../app/wiring.ts');
  const { Reconciler } = await import('../app/reconciler.ts');
  const app = createApp();
  return { app, reconciler: new Reconciler({ ...app, logger, telemetry }) };
}

const progress = (message: string) => {
  if (process.stderr.isTTY) process.stderr.write(`\r\x1b[K${message}`);
  else process.stderr.write(`${message}\n`);
};

/** Exit code for a summary: safety stop 2, errors 1, else 0. */
export function exitCodeFor(summary: ReconcileSummary): number {
  if (summary.safetyStops.length > 0) return EXIT.safetyStop;
  if (summary.errors.length > 0) return EXIT.errors;
  return EXIT.ok;
}

export function formatSummary(summary: ReconcileSummary): string {
  const lines: string[] = [];
  const mode = summary.dryRun ? 'dry run: planned' : 'applied';
  if (summary.changes.length > 0) {
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
  lines.push(
    renderTable(
      ['GROUP', 'CREATE', 'UPDATE', 'DELETE', 'UNCHANGED', 'REFUSED', 'FAILED'],
      groups.map(([g, c]) => [g, c.create, c.update, c.delete, c.unchanged, c.refused, c.failed].map(String)),
    ),
  );
  for (const r of summary.refusals) lines.push(`refused ${r.instanceId}: ${r.message}`);
  for (const s of summary.safetyStops) lines.push(`SAFETY STOP ${s.group}: ${s.message}`);
  if (summary.incompleteListing)
    lines.push(`INCOMPLETE: ${summary.incompleteListing}; no deletions were made`);
  for (const e of summary.errors) lines.push(`error: ${e}`);
  const t = summary.totals;
  lines.push(
    `${mode} ${t.create} create, ${t.update} update, ${t.delete} delete; ${t.unchanged} unchanged; ` +
      `${summary.reads.instances} instances, ${summary.reads.entries} entries read in ${summary.durationMs} ms`,
  );
  return lines.join('\n');
}

export async function runReconcile(request: ReconcileRequest, output: 'table' | 'json'): Promise<number> {
  const { reconciler: r } = await reconciler();
  const summary = await r.run(request, progress);
  if (process.stderr.isTTY) process.stderr.write('\r\x1b[K');
  process.stdout.write(
    output === 'json' ? `${JSON.stringify(summary, null, 2)}\n` : `${formatSummary(summary)}\n`,
  );
  return exitCodeFor(summary);
}

/** `status`: each group with its instances and entries side by side, and what is out of step. */
export async function runStatus(namespaces: readonly string[], output: 'table' | 'json'): Promise<number> {
  const { app, reconciler: r } = await reconciler();
  const seen = await r.observe(namespaces.length > 0 ? { namespaces } : {}, progress);
  if (process.stderr.isTTY) process.stderr.write('\r\x1b[K');
  const tagKey = `${app.config.tagPrefix}${WORKLOAD_GROUP_TAG}`;
  const entryByInstance = new Map(seen.entries.map((e) => [e.metadata.labels?.[INSTANCE_ID_LABEL] ?? '', e]));
  const pending = new Map(seen.plan.changes.map((c) => [`${c.namespace}/${c.name}`, c]));
  const pendingByInstance = new Map(seen.plan.changes.map((c) => [c.instanceId ?? '', c]));
  const refusals = new Map(seen.plan.refusals.map((x) => [x.instanceId, x.refusal]));
  const withheld = new Set(seen.plan.withheldDeletes.map((d) => `${d.namespace}/${d.name}`));
  const rows: string[][] = [];
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
    rows.push([
      group,
      f.instanceId,
      f.state,
      f.privateIpAddress ?? '',
      key,
      entry?.spec.address ?? '',
      state,
    ]);
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
    rows.push([
      '',
      id,
      '(not listed)',
      '',
      `${e.metadata.namespace}/${e.metadata.name}`,
      e.spec.address ?? '',
      state,
    ]);
  }
  rows.sort((a, b) => (a[0] ?? '').localeCompare(b[0] ?? '') || (a[1] ?? '').localeCompare(b[1] ?? ''));
  const outOfStep = rows.filter((row) => row[6] !== 'in step').length;
  if (output === 'json') {
    process.stdout.write(`${JSON.stringify({ rows, outOfStep, errors: seen.errors }, null, 2)}\n`);
  } else {
    process.stdout.write(
      `${renderTable(['GROUP', 'INSTANCE', 'STATE', 'PRIVATE IP', 'ENTRY', 'ENTRY ADDRESS', 'STATUS'], rows)}\n` +
        `${outOfStep} out of step${seen.errors.length ? `; errors: ${seen.errors.join('; ')}` : ''}\n`,
    );
  }
  return seen.errors.length > 0 ? EXIT.errors : EXIT.ok;
}
