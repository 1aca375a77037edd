import { createHash } from 'node:crypto';
import {
  GetParameterCommand,
  GetParametersByPathCommand,
  ParameterAlreadyExists,
  ParameterNotFound,
  PutParameterCommand,
  SSMClient,
  ValidationException,
} from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';

export interface FakeParameter {
  value: string;
  type: 'String' | 'StringList' | 'SecureString';
  tier: string;
  keyId?: string;
  version: number;
  lastModified: Date;
}

const NAME = /^(\/[A-Za-z0-9_.-]+)+$/;
const LIMITS: Record<string, number> = { Standard: 4096, Advanced: 8192, 'Intelligent-Tiering': 8192 };

/**
 * SSM Parameter Store as far as the bootstrap uses it, behind the real SSMClient through
 * aws-sdk-client-mock: PutParameter (Overwrite, tiers and their size limits, SecureString with a
 * key), GetParametersByPath (one level, pages of 10, SecureStrings encrypted unless WithDecryption)
 * and GetParameter. Errors are the SDK's own exception classes with SSM's messages.
 */
export function fakeParameterStore(now: () => number = Date.now) {
  const store = new Map<string, FakeParameter>();
  const client = new SSMClient({
    region: 'us-west-2',
    credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
  });
  const mock = mockClient(client);
  const meta = { $metadata: {} };
  const shown = (name: string, p: FakeParameter, decrypt: boolean) => ({
    Name: name,
    Type: p.type,
    Value:
      p.type === 'SecureString' && !decrypt
        ? `AQICAH${createHash('sha256').update(p.value).digest('base64')}`
        : p.value,
    Version: p.version,
    LastModifiedDate: p.lastModified,
  });

  mock.on(PutParameterCommand).callsFake((input) => {
    const name = input.Name ?? '';
    const value = input.Value ?? '';
    const tier = input.Tier ?? 'Standard';
    if (!NAME.test(name)) {
      throw new ValidationException({
        ...meta,
        message: `Parameter name: can't be prefixed with "aws" or "ssm" (case-insensitive). It must use only letters, numbers, or the following symbols: . (period), - (hyphen), _ (underscore). ${name}`,
      });
    }
    if (value.length > LIMITS[tier]!) {
      throw new ValidationException({
        ...meta,
        message: `1 validation error detected: Value '${value}' at 'value' failed to satisfy constraint: Member must have length less than or equal to ${LIMITS[tier]}`,
      });
    }
    const existing = store.get(name);
    if (existing && !input.Overwrite) {
      throw new ParameterAlreadyExists({
        ...meta,
        message:
          'The parameter already exists. To overwrite this value, set the overwrite option in the request to true.',
      });
    }
    const parameter: FakeParameter = {
      value,
      type: (input.Type ?? existing?.type ?? 'String') as FakeParameter['type'],
      tier,
      ...(input.KeyId ? { keyId: input.KeyId } : {}),
      version: (existing?.version ?? 0) + 1,
      lastModified: new Date(now()),
    };
    store.set(name, parameter);
    return { Version: parameter.version, Tier: tier === 'Intelligent-Tiering' ? 'Standard' : tier };
  });

  mock.on(GetParametersByPathCommand).callsFake((input) => {
    const path = input.Path ?? '';
    const names = [...store.keys()]
      .filter((name) =>
        input.Recursive
          ? name.startsWith(`${path}/`)
          : name.startsWith(`${path}/`) && !name.slice(path.length + 1).includes('/'),
      )
      .sort();
    const start = input.NextToken ? Number(input.NextToken) : 0;
    const size = input.MaxResults ?? 10;
    const page = names.slice(start, start + size);
    return {
      Parameters: page.map((name) => shown(name, store.get(name)!, input.WithDecryption === true)),
      ...(start + size < names.length ? { NextToken: String(start + size) } : {}),
    };
  });

  mock.on(GetParameterCommand).callsFake((input) => {
    const p = store.get(input.Name ?? '');
    if (!p) throw new ParameterNotFound({ ...meta, message: '' });
    return { Parameter: shown(input.Name!, p, input.WithDecryption === true) };
  });

  return {
    client,
    mock,
    store,
    value: (name: string) => store.get(name)?.value,
    /** PutParameter calls made so far. */
    puts: () => mock.commandCalls(PutParameterCommand).map((call) => call.args[0].input),
  };
}
