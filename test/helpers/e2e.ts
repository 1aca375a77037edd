import { AuthorizationV1Api, type KubeConfig, type V1ResourceAttributes } from '@kubernetes/client-node';

/**
 * Helpers of the real-cluster suite (`test/e2e/`). A real API server does much asynchronously (the
 * garbage collector, the namespace controller, the RBAC authorizer's cache of Roles and bindings):
 * a scenario waits for such an outcome by polling, bounded, and then asserts it.
 */

/**
 * Reads until `done` holds or `timeoutMs` passes, and returns the last value read (the caller
 * asserts on it, so a timeout fails with what was seen).
 */
export async function eventually<T>(
  read: () => Promise<T>,
  done: (value: T) => boolean,
  timeoutMs = 60_000,
  intervalMs = 250,
): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() > until) return value;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** The value, or undefined when the call failed with 404 (any other failure is thrown). */
export async function orNotFound<T>(call: Promise<T>): Promise<T | undefined> {
  try {
    return await call;
  } catch (error) {
    if ((error as { code?: number }).code === 404) return undefined;
    throw error;
  }
}

export interface Subject {
  readonly user: string;
  readonly groups: readonly string[];
}

/**
 * Fails, with what to grant, unless the kubeconfig's user may impersonate `subject` (verb
 * `impersonate` on `users` and `groups`, as `kubectl auth can-i impersonate users/<name>` asks).
 */
export async function assertMayImpersonate(kc: KubeConfig, subject: Subject): Promise<void> {
  const api = kc.makeApiClient(AuthorizationV1Api);
  const checks = [
    { resource: 'users', name: subject.user },
    ...subject.groups.map((name) => ({ resource: 'groups', name })),
  ];
  const denied: string[] = [];
  for (const check of checks) {
    const review = await api.createSelfSubjectAccessReview({
      body: {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SelfSubjectAccessReview',
        spec: { resourceAttributes: { verb: 'impersonate', ...check } },
      },
    });
    if (!review.status?.allowed) denied.push(`${check.resource}/${check.name}`);
  }
  if (denied.length > 0) {
    throw new Error(
      `the E2E_KUBECONFIG user may not impersonate ${denied.join(', ')}: run the suite as a cluster admin, or grant it the verb "impersonate" on users and groups`,
    );
  }
}

/**
 * Waits until the authorizer allows `subject` every call in `attributes` (SubjectAccessReview). The
 * RBAC authorizer reads Roles and bindings from its informer cache: a binding just created is not
 * in force at once, and a request made right after it may still be refused.
 */
export async function waitForAccess(
  kc: KubeConfig,
  subject: Subject,
  attributes: readonly V1ResourceAttributes[],
  timeoutMs = 30_000,
): Promise<void> {
  const api = kc.makeApiClient(AuthorizationV1Api);
  const allowed = async (resourceAttributes: V1ResourceAttributes) =>
    (
      await api.createSubjectAccessReview({
        body: {
          apiVersion: 'authorization.k8s.io/v1',
          kind: 'SubjectAccessReview',
          spec: { user: subject.user, groups: [...subject.groups], resourceAttributes },
        },
      })
    ).status?.allowed === true;
  const pending = await eventually(
    async () => {
      const left: V1ResourceAttributes[] = [];
      for (const a of attributes) if (!(await allowed(a))) left.push(a);
      return left;
    },
    (left) => left.length === 0,
    timeoutMs,
  );
  if (pending.length > 0) {
    throw new Error(
      `RBAC still refuses ${subject.user} (${subject.groups.join(', ')}) after ${timeoutMs} ms: ${JSON.stringify(pending)}`,
    );
  }
}
