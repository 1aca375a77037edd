/**
 * The cloud-init user-data that bootstraps a VM of one WorkloadGroup: `vm-bootstrap.sh` with its
 * settings block filled in. `vm-registrar bootstrap user-data --group NS/NAME` prints it; the CDK
 * construct hands it to launch templates (`VmBootstrap.userData`).
 */
import { readFileSync } from 'node:fs';
import { DEFAULT_PARAMETER_PREFIX, groupParameterPath } from '../config/bootstrap-config.ts';
import { parseGroupTag } from '../domain/decide.ts';
import { ManifestError } from './kubernetes.ts';

export interface UserDataOptions {
  /** `namespace/name` of the WorkloadGroup. */
  readonly group: string;
  /** @default '/istio-vm-registrar/bootstrap' (BOOTSTRAP_PARAMETER_PREFIX) */
  readonly parameterPrefix?: string;
  /**
   * How often the VM re-fetches its token and configuration: a systemd time span. Keep it well
   * under half the token lifetime.
   * @default '30min'
   */
  readonly refreshInterval?: string;
}

const TEMPLATE = new URL('./vm-bootstrap.sh', import.meta.url);
const SETTINGS =
  /# --- settings \(written by `vm-registrar bootstrap user-data`\) ---\n[\s\S]*?# --- end of settings ---\n/;

/** The script as shipped (its settings are an example). */
export function userDataTemplate(): string {
  return readFileSync(TEMPLATE, 'utf8');
}

/** Single-quoted for bash; the values here are checked words, so this never needs escaping. */
const quote = (value: string): string => `'${value}'`;

/**
 * Renders the user-data for a group.
 * @throws {ManifestError} on a group that is not `namespace/name`, a bad prefix or interval.
 */
export function renderUserData(options: UserDataOptions): string {
  const problems: string[] = [];
  const group = parseGroupTag(options.group);
  if ('reason' in group) problems.push(`--group: ${group.message.replace(/^workload-group tag /, '')}`);
  const prefix = options.parameterPrefix ?? DEFAULT_PARAMETER_PREFIX;
  if (!/^(\/[A-Za-z0-9_.-]+)+$/.test(prefix)) {
    problems.push(`parameter prefix "${prefix}" must be an SSM path like ${DEFAULT_PARAMETER_PREFIX}`);
  }
  const interval = options.refreshInterval ?? '30min';
  if (!/^[1-9][0-9]*(s|min|h)$/.test(interval)) {
    problems.push(`refresh interval "${interval}" must be a systemd time span such as 30min or 2h`);
  }
  if (problems.length > 0 || 'reason' in group) throw new ManifestError('renderUserData', problems);
  const settings = [
    '# --- settings (written by `vm-registrar bootstrap user-data`) ---',
    `GROUP=${quote(`${group.namespace}/${group.name}`)}`,
    `PARAMETER_PATH=${quote(groupParameterPath(prefix, group))}`,
    `REFRESH_INTERVAL=${quote(interval)}`,
    '# --- end of settings ---',
    '',
  ].join('\n');
  const template = userDataTemplate();
  if (!SETTINGS.test(template)) throw new Error('vm-bootstrap.sh has lost its settings block');
  return template.replace(SETTINGS, settings);
}
