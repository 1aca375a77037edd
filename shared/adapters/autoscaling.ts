import {
  type AutoScalingClient,
  CompleteLifecycleActionCommand,
  DescribeAutoScalingInstancesCommand,
  DescribeLifecycleHooksCommand,
  paginateDescribeAutoScalingGroups,
  paginateDescribeWarmPool,
  RecordLifecycleActionHeartbeatCommand,
} from '@aws-sdk/client-auto-scaling';
import type { LifecycleAction } from '../domain/events.ts';
import { Deadline } from './deadline.ts';
import { AdapterError } from './errors.ts';

/** DescribeAutoScalingInstances takes at most 50 ids (and MaxRecords 50). */
const IDS_PER_CALL = 50;
/** DescribeAutoScalingGroups: at most 100 names and 100 records a page. */
const GROUPS_PER_CALL = 100;
/** DescribeWarmPool: at most 50 records a page (API Reference, MaxRecords). */
const WARM_POOL_PAGE = 50;
const PARALLEL_CALLS = 4;

export type LifecycleCompletion = 'completed' | 'not-pending';

/** Lifecycle states by instance id, and the Auto Scaling groups whose states could not be read. */
export interface GroupLifecycleStates {
  readonly states: ReadonlyMap<string, string>;
  /** Group name -> why its read failed. */
  readonly failed: ReadonlyMap<string, string>;
}

/** Completes Auto Scaling lifecycle actions. */
export class LifecycleActions {
  readonly #client: AutoScalingClient;
  readonly #deadline: Deadline;
  constructor(client: AutoScalingClient, deadline: Deadline = Deadline.none()) {
    this.#client = client;
    this.#deadline = deadline;
  }

  /** The same client, every call cancelled when the invocation's deadline passes. */
  withDeadline(deadline: Deadline): LifecycleActions {
    return new LifecycleActions(this.#client, deadline);
  }

  /**
   * Completes an action (CONTINUE unless told otherwise). An action that is no longer pending
   * (completed by an earlier delivery of the same event, or timed out) is reported, not raised:
   * replays are harmless.
   */
  async complete(
    action: LifecycleAction,
    instanceId: string,
    result: 'CONTINUE' | 'ABANDON' = 'CONTINUE',
  ): Promise<LifecycleCompletion> {
    try {
      await this.#client.send(
        new CompleteLifecycleActionCommand({
          AutoScalingGroupName: action.autoScalingGroupName,
          LifecycleHookName: action.lifecycleHookName,
          LifecycleActionResult: result,
          InstanceId: instanceId,
          ...(action.token ? { LifecycleActionToken: action.token } : {}),
        }),
        { abortSignal: this.#deadline.signal },
      );
      return 'completed';
    } catch (error) {
      const e = error as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
      if (e.name === 'ValidationError' && /No active Lifecycle Action/i.test(e.message ?? ''))
        return 'not-pending';
      throw asAdapterError(error, 'CompleteLifecycleAction');
    }
  }

  /**
   * Restarts the action's heartbeat timeout (RecordLifecycleActionHeartbeat). An action no longer
   * pending is reported, not raised.
   */
  async heartbeat(action: LifecycleAction, instanceId: string): Promise<LifecycleCompletion | 'recorded'> {
    try {
      await this.#client.send(
        new RecordLifecycleActionHeartbeatCommand({
          AutoScalingGroupName: action.autoScalingGroupName,
          LifecycleHookName: action.lifecycleHookName,
          InstanceId: instanceId,
          ...(action.token ? { LifecycleActionToken: action.token } : {}),
        }),
        { abortSignal: this.#deadline.signal },
      );
      return 'recorded';
    } catch (error) {
      if (isNoActiveAction(error)) return 'not-pending';
      throw asAdapterError(error, 'RecordLifecycleActionHeartbeat');
    }
  }

  /** A hook's timeouts and default result (DescribeLifecycleHooks); undefined when there is no such hook. */
  async hookTimeouts(
    autoScalingGroupName: string,
    lifecycleHookName: string,
  ): Promise<
    | { heartbeatTimeoutSeconds: number; globalTimeoutSeconds: number; defaultResult: 'CONTINUE' | 'ABANDON' }
    | undefined
  > {
    try {
      const out = await this.#client.send(
        new DescribeLifecycleHooksCommand({
          AutoScalingGroupName: autoScalingGroupName,
          LifecycleHookNames: [lifecycleHookName],
        }),
        { abortSignal: this.#deadline.signal },
      );
      const hook = out.LifecycleHooks?.find((h) => h.LifecycleHookName === lifecycleHookName);
      if (!hook?.HeartbeatTimeout) return undefined;
      return {
        heartbeatTimeoutSeconds: hook.HeartbeatTimeout,
        globalTimeoutSeconds: hook.GlobalTimeout ?? Math.min(100 * hook.HeartbeatTimeout, 172_800),
        defaultResult: hook.DefaultResult === 'CONTINUE' ? 'CONTINUE' : 'ABANDON',
      };
    } catch (error) {
      throw asAdapterError(error, 'DescribeLifecycleHooks');
    }
  }
}

function isNoActiveAction(error: unknown): boolean {
  const e = error as { name?: string; message?: string };
  return e.name === 'ValidationError' && /No active Lifecycle Action/i.test(e.message ?? '');
}

/**
 * Reads instances' Auto Scaling lifecycle states (`InService`, `Warmed:Running`, `Terminating:Wait`,
 * `Standby`...), which EC2 does not report. Instances in no group are absent from the result.
 */
export class AutoScalingInstances {
  readonly #client: AutoScalingClient;
  readonly #deadline: Deadline;
  constructor(client: AutoScalingClient, deadline: Deadline = Deadline.none()) {
    this.#client = client;
    this.#deadline = deadline;
  }

  /** The same client, every call cancelled when the invocation's deadline passes. */
  withDeadline(deadline: Deadline): AutoScalingInstances {
    return new AutoScalingInstances(this.#client, deadline);
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

  /**
   * Lifecycle states of every instance of the named groups, in O(pages): DescribeAutoScalingGroups
   * (100 groups a page) lists the members, DescribeWarmPool (50 a page) the warm pools, which the
   * groups' member lists leave out. The reconciler's whole-fleet read. A failed call fails only the
   * groups it was about (`failed`, by group name, with the reason), never the whole read.
   */
  async groupLifecycleStates(groupNames: readonly string[]): Promise<GroupLifecycleStates> {
    const states = new Map<string, string>();
    const failed = new Map<string, string>();
    const names = [...new Set(groupNames)];
    const withWarmPools = new Set<string>();
    const describe = async (chunk: readonly string[]) => {
      const pages = paginateDescribeAutoScalingGroups(
        { client: this.#client, pageSize: GROUPS_PER_CALL },
        { AutoScalingGroupNames: [...chunk] },
        { abortSignal: this.#deadline.signal },
      );
      for await (const page of pages) {
        for (const group of page.AutoScalingGroups ?? []) {
          for (const m of group.Instances ?? [])
            if (m.InstanceId && m.LifecycleState) states.set(m.InstanceId, m.LifecycleState);
          if (group.WarmPoolConfiguration && group.AutoScalingGroupName)
            withWarmPools.add(group.AutoScalingGroupName);
        }
      }
    };
    for (let i = 0; i < names.length; i += GROUPS_PER_CALL) {
      const chunk = names.slice(i, i + GROUPS_PER_CALL);
      try {
        await describe(chunk);
      } catch (error) {
        if (chunk.length === 1) {
          failed.set(chunk[0]!, asAdapterError(error, 'DescribeAutoScalingGroups').message);
          continue;
        }
        // One call names up to 100 groups: ask again one by one, so one group's failure is its own.
        for (const name of chunk) {
          try {
            await describe([name]);
          } catch (single) {
            failed.set(name, asAdapterError(single, 'DescribeAutoScalingGroups').message);
          }
        }
      }
    }
    for (const name of withWarmPools) {
      if (failed.has(name)) continue;
      try {
        for await (const page of paginateDescribeWarmPool(
          { client: this.#client, pageSize: WARM_POOL_PAGE },
          { AutoScalingGroupName: name },
          { abortSignal: this.#deadline.signal },
        )) {
          for (const m of page.Instances ?? [])
            if (m.InstanceId && m.LifecycleState) states.set(m.InstanceId, m.LifecycleState);
        }
      } catch (error) {
        failed.set(name, asAdapterError(error, 'DescribeWarmPool').message);
      }
    }
    return { states, failed };
  }

  async #send(ids: string[], token: string | undefined) {
    try {
      return await this.#client.send(
        new DescribeAutoScalingInstancesCommand({
          InstanceIds: ids,
          MaxRecords: IDS_PER_CALL,
          ...(token ? { NextToken: token } : {}),
        }),
        { abortSignal: this.#deadline.signal },
      );
    } catch (error) {
      throw asAdapterError(error, 'DescribeAutoScalingInstances');
    }
  }
}

function asAdapterError(error: unknown, what: string): AdapterError {
  // Already classified (the member role of a spoke could not be assumed): keep its message and class.
  if (error instanceof AdapterError) return error;
  const e = error as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
  const status = e.$metadata?.httpStatusCode;
  return new AdapterError(`${what} failed: ${e.name}: ${e.message}`, {
    retriable: status === undefined || status >= 500 || e.name === 'Throttling',
    ...(status !== undefined ? { status } : {}),
    cause: error,
  });
}
