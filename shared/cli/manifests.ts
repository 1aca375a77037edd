import { renderGatewayManifests } from '../manifests/gateway.ts';
import { ManifestError, toYaml } from '../manifests/kubernetes.ts';
import { DEFAULT_KUBERNETES_GROUP, renderRbacManifests } from '../manifests/rbac.ts';
import { EXIT } from './exit.ts';

function print(render: () => object[]): number {
  try {
    process.stdout.write(toYaml(render()));
    return EXIT.ok;
  } catch (error) {
    if (error instanceof ManifestError) {
      process.stderr.write(`${error.message}\n`);
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
  namespaces: readonly string[] | undefined,
  group: string | undefined,
): Promise<number> {
  const list = namespaces?.length
    ? namespaces
    : (process.env.ALLOWED_NAMESPACES ?? '').split(',').filter(Boolean);
  if (list.length === 0) {
    process.stderr.write('rbac needs --namespace NS (repeatable) or ALLOWED_NAMESPACES\n');
    return EXIT.usage;
  }
  return print(() => renderRbacManifests({ namespaces: list, group: group ?? DEFAULT_KUBERNETES_GROUP }));
}

/** `vm-registrar manifests gateway`: the east-west gateway Service, Gateways and TargetGroupBindings. */
export async function printGateway(
  network: string,
  multiNetwork: boolean,
  namespace: string | undefined,
  targetGroups: readonly string[] = [],
): Promise<number> {
  const targetGroupArns: Record<number, string> = {};
  for (const pair of targetGroups) {
    const [port, arn] = pair.split('=', 2);
    if (!port || !arn || !/^\d+$/.test(port)) {
      process.stderr.write(`--target-group takes PORT=ARN, not "${pair}"\n`);
      return EXIT.usage;
    }
    targetGroupArns[Number(port)] = arn;
  }
  return print(() =>
    renderGatewayManifests({
      network,
      multiNetwork,
      ...(namespace ? { namespace } : {}),
      ...(targetGroups.length ? { targetGroupArns } : {}),
    }),
  );
}
