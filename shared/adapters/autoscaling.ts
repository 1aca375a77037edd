import { type AutoScalingClient, CompleteLifecycleActionCommand } from '@aws-sdk/client-auto-scaling';
import type { LifecycleAction } from '../domain/events.ts';
import { AdapterError } from './errors.ts';

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
