import { gatewayPorts, renderGatewayManifests } from '../manifests/gateway.ts';
import { ManifestError, toYaml } from '../manifests/kubernetes.ts';
import { DEFAULT_KUBERNETES_GROUP, renderRbacManifests } from '../manifests/rbac.ts';
import { EXIT } from './exit.ts';

function print(command: string, render: () => object[]): number {
  try {
    process.stdout.write(toYaml(render()));
    return EXIT.ok;
  } catch (error) {
    if (error instanceof ManifestError) {
      process.stderr.write(`vm-registrar ${command}: ${error.problems.join('; ')}\n`);
      return EXIT.usage;
    }
    throw error;
  }
}

/**
 * `vm-registrar rbac`: the Roles and bindings the registrar's Kubernetes group needs, for the
 * namespaces given (default: ALLOWED_NAMESPACES).
 */
export async function printRbac(
  namespaces: readonly string[],
  group = DEFAULT_KUBERNETES_GROUP,
): Promise<number> {
  const list = namespaces.length
    ? namespaces
    : (process.env.ALLOWED_NAMESPACES ?? '').split(',').filter(Boolean);
  if (list.length === 0) {
    process.stderr.write('vm-registrar rbac: needs --namespace NS (repeatable) or ALLOWED_NAMESPACES\n');
    return EXIT.usage;
  }
  return print('rbac', () => renderRbacManifests({ namespaces: list, group }));
}

export interface GatewayCommand {
  readonly network?: string;
  readonly multiNetwork: boolean;
  readonly namespace?: string;
  /** `PORT=ARN` as typed. */
  readonly targetGroups: readonly string[];
}

/**
 * Parses `--target-group PORT=ARN` values. Ports and ARNs are checked by the renderer (one list of
 * rules for the CLI and the CDK app); here only the shape and duplicates.
 */
export function parseTargetGroups(
  values: readonly string[],
  multiNetwork: boolean,
): { arns: Record<number, string>; problems: string[] } {
  const arns: Record<number, string> = {};
  const problems: string[] = [];
  for (const value of values) {
    const eq = value.indexOf('=');
    const port = eq > 0 ? value.slice(0, eq) : '';
    const arn = eq > 0 ? value.slice(eq + 1) : '';
    if (!/^\d+$/.test(port) || arn === '') {
      problems.push(
        `--target-group takes PORT=ARN (ports: ${gatewayPorts(multiNetwork).join(', ')}), not "${value}"`,
      );
      continue;
    }
    if (arns[Number(port)] !== undefined) {
      problems.push(`--target-group ${port} given twice`);
      continue;
    }
    arns[Number(port)] = arn;
  }
  return { arns, problems };
}

/** `vm-registrar manifests gateway`: the east-west gateway Service, Gateways and TargetGroupBindings. */
export async function printGateway(command: GatewayCommand): Promise<number> {
  const { arns, problems } = parseTargetGroups(command.targetGroups, command.multiNetwork);
  let objects: object[] = [];
  try {
    objects = renderGatewayManifests({
      multiNetwork: command.multiNetwork,
      ...(command.network !== undefined ? { network: command.network } : {}),
      ...(command.namespace ? { namespace: command.namespace } : {}),
      targetGroupArns: arns,
    });
  } catch (error) {
    if (!(error instanceof ManifestError)) throw error;
    problems.push(...error.problems);
  }
  // Every problem at once, and nothing on stdout: half a manifest piped to kubectl is worse than none.
  if (problems.length > 0) {
    process.stderr.write(`vm-registrar manifests gateway: ${problems.join('; ')}\n`);
    return EXIT.usage;
  }
  process.stdout.write(toYaml(objects));
  return EXIT.ok;
}
