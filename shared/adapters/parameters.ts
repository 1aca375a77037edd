import { GetParametersByPathCommand, PutParameterCommand, type SSMClient } from '@aws-sdk/client-ssm';
import { AdapterError } from './errors.ts';

export class ParameterStoreError extends AdapterError {
  override readonly name = 'ParameterStoreError';
}

/** A stored parameter: its value (SecureStrings stay encrypted: never decrypted here). */
export interface StoredParameter {
  readonly value: string;
  readonly type: string;
}

/** SDK errors that a later call may not repeat (throttling, service trouble, the network). */
function retriable(error: unknown): boolean {
  const e = error as { name?: string; $retryable?: unknown; $metadata?: { httpStatusCode?: number } };
  const status = e.$metadata?.httpStatusCode;
  return (
    e.$retryable !== undefined ||
    e.name === 'ThrottlingException' ||
    e.name === 'InternalServerError' ||
    status === undefined ||
    status >= 500 ||
    status === 429
  );
}

/**
 * SSM Parameter Store under one path per group: reads the path (values of plain parameters,
 * SecureStrings left encrypted) and writes parameters. Makes no decisions. A SecureString's value
 * never reaches an error: messages name the parameter and the error, with the value blanked out, and
 * carry no cause (SDK errors may hold the request).
 */
export class BootstrapParameters {
  readonly #ssm: SSMClient;

  constructor(ssm: SSMClient) {
    this.#ssm = ssm;
  }

  /** Every parameter directly under `path` (a `/`-separated prefix, no trailing `/`), by name. */
  async readPath(path: string, abortSignal?: AbortSignal): Promise<Map<string, StoredParameter>> {
    const found = new Map<string, StoredParameter>();
    let NextToken: string | undefined;
    try {
      do {
        const page = await this.#ssm.send(
          new GetParametersByPathCommand({ Path: path, Recursive: false, WithDecryption: false, NextToken }),
          { abortSignal },
        );
        for (const parameter of page.Parameters ?? []) {
          if (parameter.Name && parameter.Value !== undefined) {
            found.set(parameter.Name, { value: parameter.Value, type: parameter.Type ?? 'String' });
          }
        }
        NextToken = page.NextToken;
      } while (NextToken);
    } catch (error) {
      throw new ParameterStoreError(`read ${path}: ${describe(error)}`, {
        retriable: retriable(error),
        cause: error,
      });
    }
    return found;
  }

  /** Writes a plain parameter (Intelligent-Tiering: a root certificate bundle may exceed 4 KB). */
  async putString(name: string, value: string, abortSignal?: AbortSignal): Promise<void> {
    try {
      await this.#ssm.send(
        new PutParameterCommand({
          Name: name,
          Value: value,
          Type: 'String',
          Tier: 'Intelligent-Tiering',
          Overwrite: true,
        }),
        { abortSignal },
      );
    } catch (error) {
      throw new ParameterStoreError(`write ${name}: ${describe(error)}`, {
        retriable: retriable(error),
        cause: error,
      });
    }
  }

  /**
   * Writes a SecureString encrypted with `keyId`. Standard tier: the value is encrypted by KMS
   * directly (kms:Encrypt), with the parameter's ARN as encryption context.
   */
  async putSecret(name: string, value: string, keyId: string, abortSignal?: AbortSignal): Promise<void> {
    try {
      await this.#ssm.send(
        new PutParameterCommand({
          Name: name,
          Value: value,
          Type: 'SecureString',
          KeyId: keyId,
          Tier: 'Standard',
          Overwrite: true,
        }),
        { abortSignal },
      );
    } catch (error) {
      throw new ParameterStoreError(`write ${name}: ${describe(error).replaceAll(value, '[redacted]')}`, {
        retriable: retriable(error),
      });
    }
  }
}

function describe(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}
