import type { Logger } from '@aws-lambda-powertools/logger';
import type { Deadline } from '../adapters/deadline.ts';
import type { Ipv4Resolver } from '../adapters/dns.ts';
import { AdapterError } from '../adapters/errors.ts';
import type { KubeBootstrap } from '../adapters/kube-bootstrap.ts';
import type { BootstrapParameters, StoredParameter } from '../adapters/parameters.ts';
import {
  type BootstrapConfig,
  type BootstrapGroupRef,
  groupParameterPath,
} from '../config/bootstrap-config.ts';
import { Metric, type MetricName } from '../constants.ts';
import {
  BootstrapProblem,
  type BootstrapRefusal,
  BUNDLE_FILES,
  groupServiceAccount,
  MESH_CONFIG_KEY,
  MESH_CONFIGMAP,
  parseEnvFile,
  ROOT_CERT_CONFIGMAP,
  ROOT_CERT_KEY,
  renderBootstrapBundle,
} from '../domain/bootstrap.ts';
import {
  decideTokenRefresh,
  formatTokenRecord,
  ISTIO_CA_AUDIENCE,
  parseTokenRecord,
  type TokenState,
} from '../domain/token-rotation.ts';
import { mapSettled } from './concurrency.ts';

/** Parameter names under a group's path besides the bundle files. */
export const TOKEN_PARAMETER = 'istio-token';
export const TOKEN_RECORD_PARAMETER = 'istio-token-expiry';

/** The log lines the refresher writes: the Powertools logger's. */
export type BootstrapLogger = Pick<Logger, 'info' | 'warn' | 'error'>;

/** Metrics of a run. */
export interface BootstrapTelemetry {
  count(name: MetricName, value?: number, dimension?: { name: string; value: string }): void;
  seconds(name: MetricName, value: number): void;
}

export interface BootstrapDeps {
  readonly config: BootstrapConfig;
  readonly kube: KubeBootstrap;
  readonly parameters: BootstrapParameters;
  readonly resolve: Ipv4Resolver;
  readonly logger: BootstrapLogger;
  readonly telemetry: BootstrapTelemetry;
  /** Epoch ms; injected so tests can move time. */
  readonly now?: () => number;
}

export interface GroupOutcome {
  readonly group: string;
  /** Bundle files written this run (changed), or `failed`. */
  readonly bundle: { readonly status: 'written' | 'unchanged' | 'failed'; readonly files: readonly string[] };
  readonly token: {
    readonly status: 'minted' | 'kept' | 'failed';
    readonly state: TokenState;
    readonly expiresAt?: string;
  };
  readonly problems: readonly BootstrapRefusal[];
}

export interface BootstrapSummary {
  readonly groups: readonly GroupOutcome[];
  readonly minted: number;
  readonly failed: number;
  /** Seconds the shortest-lived stored token has left after the run (absent without tokens). */
  readonly minSecondsLeft?: number;
  readonly durationMs: number;
}

const JWT = /eyJ[\w-]{4,}\.[\w-]{4,}\.[\w-]+/g;

/** A message safe to log: the given secrets and anything shaped like a JWT blanked out. */
export function redact(text: string, secrets: readonly string[] = []): string {
  let out = text;
  for (const secret of secrets) if (secret) out = out.replaceAll(secret, '[redacted]');
  return out.replace(JWT, '[redacted]');
}

function problem(
  reason: BootstrapProblem,
  error: unknown,
  secrets: readonly string[] = [],
): BootstrapRefusal {
  // Only the message: an error's cause, request or response stays out of logs and summaries.
  const message = error instanceof Error ? error.message : String(error);
  return { reason, message: redact(message, secrets) };
}

/**
 * Refreshes every opted-in group: renders its bundle from the cluster and writes the files that
 * changed, and mints its `istio-ca` token when the policy says so (token-rotation.ts). Groups fail
 * one by one; a failure is logged, counted (BootstrapRefreshFailed, by reason) and reported, never
 * thrown. No token is ever logged, returned or put in an error.
 */
export class BootstrapRefresher {
  readonly #deps: BootstrapDeps;
  readonly #now: () => number;

  constructor(deps: BootstrapDeps) {
    this.#deps = deps;
    this.#now = deps.now ?? Date.now;
  }

  async run(deadline?: Deadline, only?: readonly string[]): Promise<BootstrapSummary> {
    const started = this.#now();
    const kube = deadline ? this.#deps.kube.withDeadline(deadline) : this.#deps.kube;
    const groups = this.#deps.config.groups.filter(
      (group) => !only || only.includes(`${group.namespace}/${group.name}`),
    );
    const settled = await mapSettled(groups, 4, (group) => this.#refresh(group, kube, deadline?.signal));
    const outcomes = settled.map((result, i) =>
      result.status === 'fulfilled' ? result.value : this.#unexpected(groups[i]!, result.reason),
    );
    const lefts = outcomes
      .map((o) =>
        o.token.expiresAt ? Math.max(0, (Date.parse(o.token.expiresAt) - this.#now()) / 1000) : undefined,
      )
      .filter((s): s is number => s !== undefined);
    const minSecondsLeft = lefts.length > 0 ? Math.floor(Math.min(...lefts)) : undefined;
    if (minSecondsLeft !== undefined)
      this.#deps.telemetry.seconds(Metric.BootstrapTokenSecondsLeft, minSecondsLeft);
    return {
      groups: outcomes,
      minted: outcomes.filter((o) => o.token.status === 'minted').length,
      failed: outcomes.filter((o) => o.problems.length > 0).length,
      ...(minSecondsLeft !== undefined ? { minSecondsLeft } : {}),
      durationMs: this.#now() - started,
    };
  }

  #unexpected(group: BootstrapGroupRef, reason: unknown): GroupOutcome {
    const refusal = problem(BootstrapProblem.KubernetesFailed, reason);
    this.#fail(`${group.namespace}/${group.name}`, refusal);
    return {
      group: `${group.namespace}/${group.name}`,
      bundle: { status: 'failed', files: [] },
      token: { status: 'failed', state: 'missing' },
      problems: [refusal],
    };
  }

  #fail(group: string, refusal: BootstrapRefusal): void {
    this.#deps.telemetry.count(Metric.BootstrapRefreshFailed, 1, { name: 'Reason', value: refusal.reason });
    this.#deps.logger.error('bootstrap refresh failed', {
      group,
      reason: refusal.reason,
      message: refusal.message,
    });
  }

  async #refresh(ref: BootstrapGroupRef, kube: KubeBootstrap, signal?: AbortSignal): Promise<GroupOutcome> {
    const { config, parameters, telemetry, logger } = this.#deps;
    const key = `${ref.namespace}/${ref.name}`;
    const path = groupParameterPath(config.parameterPrefix, ref);
    const problems: BootstrapRefusal[] = [];
    const failed = (refusal: BootstrapRefusal) => {
      problems.push(refusal);
      this.#fail(key, refusal);
    };
    const stop = (refusal: BootstrapRefusal): GroupOutcome => {
      failed(refusal);
      return {
        group: key,
        bundle: { status: 'failed', files: [] },
        token: { status: 'failed', state: 'missing' },
        problems,
      };
    };

    let stored: Map<string, StoredParameter>;
    try {
      stored = await parameters.readPath(path, signal);
    } catch (error) {
      return stop(problem(BootstrapProblem.ParameterStoreFailed, error));
    }
    const storedValue = (name: string) => stored.get(`${path}/${name}`)?.value;

    let group: Awaited<ReturnType<KubeBootstrap['getWorkloadGroup']>>;
    try {
      group = await kube.getWorkloadGroup(ref.namespace, ref.name);
    } catch (error) {
      return stop(problem(BootstrapProblem.KubernetesFailed, error));
    }
    if (!group) {
      return stop({
        reason: BootstrapProblem.WorkloadGroupNotFound,
        message: `WorkloadGroup ${key} does not exist: no bundle and no token`,
      });
    }
    if (groupServiceAccount(group) !== ref.serviceAccount) {
      return stop({
        reason: BootstrapProblem.ServiceAccountMismatch,
        message: `WorkloadGroup ${key} runs as service account "${groupServiceAccount(group)}", but bootstrap is configured (and authorised) for "${ref.serviceAccount}"`,
      });
    }

    const bundle = await this.#bundle(ref, group, kube, storedValue, signal).catch((error: unknown) => {
      failed(
        problem(
          error instanceof AdapterError && error.name === 'ParameterStoreError'
            ? BootstrapProblem.ParameterStoreFailed
            : BootstrapProblem.KubernetesFailed,
          error,
        ),
      );
      return { status: 'failed' as const, files: [] as string[] };
    });
    if ('refusal' in bundle) failed(bundle.refusal);

    const token = await this.#token(ref, kube, storedValue(TOKEN_RECORD_PARAMETER), path, signal, failed);
    const outcome: GroupOutcome = {
      group: key,
      bundle: 'refusal' in bundle ? { status: 'failed', files: [] } : bundle,
      token,
      problems,
    };
    if (outcome.bundle.files.length > 0)
      telemetry.count(Metric.BootstrapFilesWritten, outcome.bundle.files.length);
    logger.info('bootstrap refreshed', {
      group: key,
      filesWritten: outcome.bundle.files,
      bundle: outcome.bundle.status,
      token: token.status,
      tokenState: token.state,
      ...(token.expiresAt ? { tokenExpiresAt: token.expiresAt } : {}),
    });
    return outcome;
  }

  async #bundle(
    ref: BootstrapGroupRef,
    group: NonNullable<Awaited<ReturnType<KubeBootstrap['getWorkloadGroup']>>>,
    kube: KubeBootstrap,
    storedValue: (name: string) => string | undefined,
    signal?: AbortSignal,
  ): Promise<{ status: 'written' | 'unchanged'; files: string[] } | { refusal: BootstrapRefusal }> {
    const { config, parameters, resolve, logger } = this.#deps;
    const [mesh, root] = await Promise.all([
      kube.getConfigMapData(config.controlPlaneNamespace, MESH_CONFIGMAP),
      kube.getConfigMapData(ref.namespace, ROOT_CERT_CONFIGMAP),
    ]);
    for (const [map, name, ns] of [
      [mesh, MESH_CONFIGMAP, config.controlPlaneNamespace],
      [root, ROOT_CERT_CONFIGMAP, ref.namespace],
    ] as const) {
      if (!map) {
        return {
          refusal: {
            reason: BootstrapProblem.ConfigMapNotFound,
            message: `ConfigMap ${ns}/${name} does not exist`,
          },
        };
      }
    }
    // The gateway's current addresses; when the name does not resolve now, the ones last written.
    let addresses: string[] = [];
    try {
      addresses = await resolve(config.gatewayDnsName);
    } catch (error) {
      logger.warn('gateway name did not resolve; keeping the stored addresses', {
        name: config.gatewayDnsName,
        error: (error as Error).message,
      });
    }
    if (addresses.length === 0) {
      const previous = parseEnvFile(storedValue('bootstrap.env') ?? '').GATEWAY_ADDRESSES ?? '';
      addresses = previous.split(',').filter(Boolean);
    }
    const rendered = renderBootstrapBundle({
      group,
      meshConfig: mesh?.[MESH_CONFIG_KEY],
      rootCert: root?.[ROOT_CERT_KEY],
      clusterId: config.clusterId,
      architecture: config.architecture,
      controlPlaneNamespace: config.controlPlaneNamespace,
      gateway: { dnsName: config.gatewayDnsName, addresses, zoneVpcIds: config.zoneVpcIds },
      istioVersion: config.istioVersion,
    });
    if (!rendered.ok) return { refusal: rendered.refusal };
    const path = groupParameterPath(config.parameterPrefix, ref);
    const files: string[] = [];
    for (const file of BUNDLE_FILES) {
      if (storedValue(file) === rendered.bundle[file]) continue;
      await parameters.putString(`${path}/${file}`, rendered.bundle[file], signal);
      files.push(file);
    }
    return { status: files.length > 0 ? 'written' : 'unchanged', files };
  }

  async #token(
    ref: BootstrapGroupRef,
    kube: KubeBootstrap,
    storedRecord: string | undefined,
    path: string,
    signal: AbortSignal | undefined,
    failed: (refusal: BootstrapRefusal) => void,
  ): Promise<GroupOutcome['token']> {
    const { config, parameters, telemetry, logger } = this.#deps;
    const now = this.#now();
    const record = parseTokenRecord(storedRecord);
    const decision = decideTokenRefresh(record, now, config.refreshIntervalSeconds * 1000);
    const key = `${ref.namespace}/${ref.name}`;
    if (decision.state === 'late') {
      telemetry.count(Metric.BootstrapTokenLate);
      logger.warn('token refresh is late: earlier runs failed or did not happen', {
        group: key,
        refreshWasDueAt: new Date(decision.refreshAt!).toISOString(),
      });
    }
    if (decision.state === 'expired') {
      telemetry.count(Metric.BootstrapTokenExpired);
      logger.error('stored token has expired: VMs of this group cannot renew their certificates', {
        group: key,
        expiredAt: record?.expiresAt,
      });
    }
    if (!decision.mint)
      return { status: 'kept', state: decision.state, ...(record ? { expiresAt: record.expiresAt } : {}) };
    const kept = {
      status: 'failed' as const,
      state: decision.state,
      ...(record ? { expiresAt: record.expiresAt } : {}),
    };
    let issued: Awaited<ReturnType<KubeBootstrap['createToken']>>;
    try {
      issued = await kube.createToken(ref.namespace, ref.serviceAccount, {
        audience: ISTIO_CA_AUDIENCE,
        expirationSeconds: config.tokenLifetimeSeconds,
      });
    } catch (error) {
      failed(problem(BootstrapProblem.TokenRequestFailed, error));
      return kept;
    }
    const expiresAt = issued.expiresAt.toISOString();
    try {
      await parameters.putSecret(`${path}/${TOKEN_PARAMETER}`, issued.token, config.kmsKeyId, signal);
      await parameters.putString(
        `${path}/${TOKEN_RECORD_PARAMETER}`,
        formatTokenRecord({ issuedAt: new Date(now).toISOString(), expiresAt }),
        signal,
      );
    } catch (error) {
      failed(problem(BootstrapProblem.ParameterStoreFailed, error, [issued.token]));
      return kept;
    }
    telemetry.count(Metric.BootstrapTokensMinted);
    const granted = Math.round((issued.expiresAt.getTime() - now) / 1000);
    if (granted < config.tokenLifetimeSeconds - 60) {
      logger.warn('the API server granted a shorter token lifetime than asked', {
        group: key,
        askedSeconds: config.tokenLifetimeSeconds,
        grantedSeconds: granted,
      });
    }
    return { status: 'minted', state: decision.state, expiresAt };
  }
}
