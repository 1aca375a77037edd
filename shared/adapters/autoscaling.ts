import {
  type AutoScalingClient,
  CompleteLifecycleActionCommand,
  DescribeAutoScalingInstancesCommand,
} from '@aws-sdk/client-auto-scaling';
import type { LifecycleAction } from '../domain/events.ts';
import { AdapterError } from './errors.ts';

/** DescribeAutoScalingInstances takes at most 50 ids. */
const IDS_PER_CALL = 50;
const PARALLEL_CALLS = 4;

export type LifecycleCompletion = 'completed' | 'not-pending';

/** Completes Auto Scaling lifecycle actions. */
export class LifecycleActions {
  readonly #client: AutoScalingClient;
  constructor(client: AutoScalingClient) {
    this.#client = client;
  }

  /**
   * Completes an action with CONTINUE. An action that is no longer pending (completed by an earlier
   * delivery of the same event, or timed out) is reported, not raised: replays are harmless.
   */
  async complete(action: LifecycleAction, instanceId: string): Promise<LifecycleCompletion> {
    try {
      await this.#client.send(
        new CompleteLifecycleActionCommand({
          AutoScalingGroupName: action.autoScalingGroupName,
          LifecycleHookName: action.lifecycleHookName,
          LifecycleActionResult: 'CONTINUE',
          InstanceId: instanceId,
          ...(action.token ? { LifecycleActionToken: action.token } : {}),
        }),
      );
      return 'completed';
    } catch (error) {
      const e = error as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
      if (e.name === 'ValidationError' && /No active Lifecycle Action/i.test(e.message ?? ''))
        return 'not-pending';
      const status = e.$metadata?.httpStatusCode;
      throw new AdapterError(`CompleteLifecycleAction failed: ${e.name}: ${e.message}`, {
        retriable: status === undefined || status >= 500 || e.name === 'Throttling',
        ...(status !== undefined ? { status } : {}),
        cause: error,
      });
    }
  }
}

/**
 * Reads instances' Auto Scaling lifecycle states (`InService`, `Warmed:Running`, `Terminating:Wait`,
 * `Standby`...), which EC2 does not report. Instances in no group are absent from the result.
 */
export class AutoScalingInstances {
  readonly #client: AutoScalingClient;
  constructor(client: AutoScalingClient) {
    this.#client = client;
  }

  async lifecycleStates(instanceIds: readonly string[]): Promise<Map<string, string>> {
    const ids = [...new Set(instanceIds)];
    const chunks: string[][] = [];
    for (let i = 0; i < ids.length; i += IDS_PER_CALL) chunks.push(ids.slice(i, i + IDS_PER_CALL));
    const states = new Map<string, string>();
    let next = 0;
    const worker = async () => {
      while (next < chunks.length) {
        const chunk = chunks[next++]!;
        let token: string | undefined;
        do {
          const out = await this.#send(chunk, token);
          for (const i of out.AutoScalingInstances ?? []) {
            if (i.InstanceId && i.LifecycleState) states.set(i.InstanceId, i.LifecycleState);
          }
          token = out.NextToken;
        } while (token);
      }
    };
    await Promise.all(Array.from({ length: Math.min(PARALLEL_CALLS, chunks.length) }, worker));
    return states;
  }

  async #send(ids: string[], token: string | undefined) {
    try {
      return await this.#client.send(
        new DescribeAutoScalingInstancesCommand({
          InstanceIds: ids,
          MaxRecords: IDS_PER_CALL,
          ...(token ? { NextToken: token } : {}),
        }),
      );
    } catch (error) {
      const e = error as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
      const status = e.$metadata?.httpStatusCode;
      throw new AdapterError(`DescribeAutoScalingInstances failed: ${e.name}: ${e.message}`, {
        retriable: status === undefined || status >= 500 || e.name === 'Throttling',
        ...(status !== undefined ? { status } : {}),
        cause: error,
      });
    }
  }
}
