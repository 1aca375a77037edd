import { ASG_ANNOTATION, INSTANCE_ID_LABEL } from '../constants.ts';
import type { WorkloadEntryObject } from '../domain/types.ts';
import { renderTable } from './table.ts';

/** Rows of a WorkloadEntry table, as the demo and `replay` print them. */
export function entryRows(entries: readonly WorkloadEntryObject[]): string[][] {
  return [...entries]
    .sort((a, b) =>
      `${a.metadata.namespace}/${a.metadata.name}`.localeCompare(
        `${b.metadata.namespace}/${b.metadata.name}`,
      ),
    )
    .map((e) => [
      e.metadata.namespace,
      e.metadata.name,
      e.spec.address ?? '',
      e.spec.locality ?? '',
      e.spec.network ?? '',
      Object.entries(e.spec.ports ?? {})
        .map(([k, v]) => `${k}:${v}`)
        .join(','),
      e.metadata.labels?.[INSTANCE_ID_LABEL] ?? '',
      e.metadata.annotations?.[ASG_ANNOTATION] ?? '',
    ]);
}

export const ENTRY_HEADERS = [
  'NAMESPACE',
  'NAME',
  'ADDRESS',
  'LOCALITY',
  'NETWORK',
  'PORTS',
  'INSTANCE',
  'ASG',
];

/** Prints every managed entry in the allowed namespaces of the current configuration. */
export async function printEntries(): Promise<void> {
  const { createApp } = await import('../app/wiring.ts');
  const app = createApp();
  const entries: WorkloadEntryObject[] = [];
  const scopes = app.config.allowedNamespaces.includes('*') ? ['*'] : app.config.allowedNamespaces;
  for (const ns of scopes) for await (const page of app.kube.listManagedEntries(ns)) entries.push(...page);
  process.stdout.write(`${renderTable(ENTRY_HEADERS, entryRows(entries))}\n`);
}
