import { readdirSync, readFileSync } from 'node:fs';
import type { PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';

const DIR = new URL('../../docs/events/', import.meta.url);

/** The JSON schemas of docs/events/, by detail-type. */
export function eventSchemas(): Map<
  string,
  { file: string; schema: Record<string, unknown>; validate: ValidateFunction }
> {
  const ajv = new Ajv({ strict: true, allErrors: true });
  (addFormats as unknown as (a: Ajv) => void)(ajv);
  const out = new Map<
    string,
    { file: string; schema: Record<string, unknown>; validate: ValidateFunction }
  >();
  for (const file of readdirSync(DIR).filter((f) => f.endsWith('.json'))) {
    const schema = JSON.parse(readFileSync(new URL(file, DIR), 'utf8')) as Record<string, unknown>;
    out.set(String(schema.title), { file, schema, validate: ajv.compile(schema) });
  }
  return out;
}

/** A PutEvents entry as a rule's target receives it: EventBridge's envelope around the detail. */
export function delivered(entry: PutEventsRequestEntry): Record<string, unknown> {
  return {
    version: '0',
    id: '6a7e8feb-b491-4cf7-a9f1-bf3703467718',
    'detail-type': entry.DetailType,
    source: entry.Source,
    account: '111122223333',
    time: (entry.Time ?? new Date()).toISOString().replace(/\.\d{3}Z$/, 'Z'),
    region: 'us-west-2',
    resources: entry.Resources ?? [],
    detail: JSON.parse(entry.Detail ?? 'null'),
  };
}
