import { createBootstrapApp } from '../app/bootstrap-wiring.ts';
import { type BootstrapGroupRef, parseBootstrapGroup } from '../config/bootstrap-config.ts';
import { ConfigError } from '../config/config.ts';
import { renderBootstrapRbacManifests } from '../manifests/bootstrap-rbac.ts';
import { ManifestError, toYaml } from '../manifests/kubernetes.ts';
import { renderUserData } from '../manifests/user-data.ts';
import { EXIT } from './exit.ts';
import { renderTable } from './table.ts';

/** `vm-registrar bootstrap user-data`: the cloud-init user-data of a group's VMs, on stdout. */
export async function printUserData(options: {
  group: string;
  parameterPrefix?: string;
  refreshInterval: string;
}): Promise<number> {
  try {
    process.stdout.write(
      renderUserData({
        group: options.group,
        refreshInterval: options.refreshInterval,
        ...(options.parameterPrefix ? { parameterPrefix: options.parameterPrefix } : {}),
      }),
    );
    return EXIT.ok;
  } catch (error) {
    if (!(error instanceof ManifestError)) throw error;
    process.stderr.write(`vm-registrar bootstrap user-data: ${error.problems.join('; ')}\n`);
    return EXIT.usage;
  }
}

/**
 * `vm-registrar bootstrap rbac`: the Roles and bindings of the bootstrap function's Kubernetes group,
 * for the groups given (default: BOOTSTRAP_GROUPS).
 */
export async function printBootstrapRbac(options: {
  groups: readonly string[];
  controlPlaneNamespace: string;
  kubernetesGroup: string;
}): Promise<number> {
  const items = options.groups.length
    ? options.groups
    : (process.env.BOOTSTRAP_GROUPS ?? '').split(',').filter((g) => g.trim());
  const problems: string[] = [];
  const groups: BootstrapGroupRef[] = [];
  for (const item of items) {
    try {
      groups.push(parseBootstrapGroup(item));
    } catch (error) {
      problems.push(`--group ${(error as Error).message}`);
    }
  }
  if (items.length === 0)
    problems.push('needs --group NS/NAME[:SERVICEACCOUNT] (repeatable) or BOOTSTRAP_GROUPS');
  try {
    if (problems.length === 0) {
      process.stdout.write(
        toYaml(
          renderBootstrapRbacManifests({
            groups,
            controlPlaneNamespace: options.controlPlaneNamespace,
            kubernetesGroup: options.kubernetesGroup,
          }),
        ),
      );
      return EXIT.ok;
    }
  } catch (error) {
    if (!(error instanceof ManifestError)) throw error;
    problems.push(...error.problems);
  }
  process.stderr.write(`vm-registrar bootstrap rbac: ${problems.join('; ')}\n`);
  return EXIT.usage;
}

/**
 * `vm-registrar bootstrap refresh`: one run of the bootstrap function from here (BOOTSTRAP_* and the
 * cluster access variables), for every opted-in group or the ones named. Exit 1 when a group failed.
 */
export async function runBootstrapRefresh(options: {
  groups: readonly string[];
  output: 'table' | 'json';
}): Promise<number> {
  let app: ReturnType<typeof createBootstrapApp>;
  try {
    app = createBootstrapApp();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`vm-registrar bootstrap refresh: ${error.message}\n`);
    return EXIT.usage;
  }
  const known = app.config.groups.map((g) => `${g.namespace}/${g.name}`);
  const unknown = options.groups.filter((g) => !known.includes(g));
  if (unknown.length > 0) {
    process.stderr.write(
      `vm-registrar bootstrap refresh: not in BOOTSTRAP_GROUPS: ${unknown.join(', ')} (opted in: ${known.join(', ')})\n`,
    );
    return EXIT.usage;
  }
  const summary = await app.refresher.run(undefined, options.groups.length ? options.groups : undefined);
  if (options.output === 'json') {
    process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
  } else {
    const rows = summary.groups.map((g) => [
      g.group,
      g.bundle.status,
      g.bundle.files.join(',') || '-',
      g.token.status,
      g.token.state,
      g.token.expiresAt ?? '-',
      g.problems.map((p) => `${p.reason}: ${p.message}`).join('; ') || '-',
    ]);
    process.stdout.write(
      `${renderTable(['GROUP', 'BUNDLE', 'FILES WRITTEN', 'TOKEN', 'STATE', 'EXPIRES', 'PROBLEM'], rows)}\n`,
    );
  }
  return summary.failed > 0 ? EXIT.errors : EXIT.ok;
}
