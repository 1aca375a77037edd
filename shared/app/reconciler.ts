import type { Logger } from '@aws-lambda-powertools/logger';
import type { AutoScalingInstances } from '../adapters/autoscaling.ts';
import type { FleetAws } from '../adapters/aws-locations.ts';
import type { Deadline } from '../adapters/deadline.ts';
import type { Ec2Instances } from '../adapters/ec2.ts';
import { KubernetesError, MemberAccessError } from '../adapters/errors.ts';
import type { KubeWorkloads } from '../adapters/kube.ts';
import type { RegistrarConfig } from '../config/config.ts';
import { LAUNCH_TIME_ANNOTATION, Metric, WORKLOAD_GROUP_TAG } from '../constants.ts';
import {
  decideInstance,
  isNamespaceAllowed,
  LAUNCH_VISIBILITY_WINDOW_MS,
  parseGroupTag,
} from '../domain/decide.ts';
import { RefusalReason } from '../domain/errors.ts';
import { entryLocation, isHome, type Location, locationKey, sameLocation } from '../domain/locations.ts';
import {
  type ChangeAction,
  entryGroupKey,
  type PlannedChange,
  planReconcile,
  type ReconcilePlan,
  type SafetyStop,
} from '../domain/plan.ts';
import {
  groupKey,
  type InstanceFacts,
  type WorkloadEntryObject,
  type WorkloadGroupView,
} from '../domain/types.ts';
import { isManaged } from '../domain/workload-entry.ts';
import type { Telemetry } from '../observability.ts';
import { mapSettled } from './concurrency.ts';
import { writeEntry } from './entries.ts';
import { describeInstances, withFleetLifecycleStates } from './instances.ts';
import type { Notifier } from './notifier.ts';
import {
  applyServices,
  observeServices,
  plannedReports,
  type ServicesObservation,
  type ServicesSummary,
  servicesSummary,
} from './services-sweep.ts';
import { sweepDrift, tellSweep } from './sweep-notices.ts';

/** Manual invocation payload (and the CLI's flags). */
export interface ReconcileRequest {
  /** Plan only: no writes. */
  readonly dryRun?: boolean;
  /** Limit the sweep to these namespaces (each must be allowed). */
  readonly namespaces?: readonly string[];
  /** Limit the sweep to these groups, `<namespace>/<name>`. */
  readonly groups?: readonly string[];
  /** Apply deletes even past the safety cap. Never overrides an incomplete listing. */
  readonly force?: boolean;
}

export interface GroupCounts {
  create: number;
  update: number;
  delete: number;
  unchanged: number;
  refused: number;
  failed: number;
}

export interface ChangeReport {
  readonly action: ChangeAction;
  readonly entry: string;
  readonly group: string;
  readonly instanceId?: string;
  readonly reason: string;
  /**
   * `skipped`: the instance changed between the listing and the write (re-read just before);
   * `corrected`: a write undone or redone because the instance changed while it was made (re-read
   * right after).
   */
  readonly status: 'planned' | 'applied' | 'failed' | 'withheld' | 'skipped' | 'corrected';
  readonly error?: string;
}

export interface ReconcileSummary {
  readonly dryRun: boolean;
  readonly forced: boolean;
  readonly startedAt: string;
  readonly durationMs: number;
  /** Converged (or, dry run, nothing to change), with no errors and no safety stop. */
  readonly converged: boolean;
  readonly totals: GroupCounts;
  readonly groups: Record<string, GroupCounts>;
  readonly changes: readonly ChangeReport[];
  readonly refusals: ReadonlyArray<{ instanceId: string; reason: string; message: string }>;
  readonly safetyStops: readonly SafetyStop[];
  /** Set when a listing failed: the sweep made no deletions. */
  readonly incompleteListing?: string;
  /**
   * Account/region pairs (`account:region`) whose instances could not be listed, with why: no
   * deletions for the groups with entries there (multi-account mode; see README).
   */
  readonly unlistedLocations?: Readonly<Record<string, string>>;
  readonly errors: readonly string[];
  readonly reads: { readonly instances: number; readonly entries: number; readonly groups: number };
  /** Services, ServiceEntries and direct EndpointSlices (absent when no group in scope asks for any). */
  readonly services?: ServicesSummary;
}

export interface ReconcilerDeps {
  readonly config: RegistrarConfig;
  readonly ec2: Ec2Instances;
  readonly autoscaling: AutoScalingInstances;
  readonly kube: KubeWorkloads;
  readonly logger: Logger;
  readonly telemetry: Telemetry;
  readonly now?: () => number;
  /**
   * The clients of every location of `config.fleet` (`ec2` and `autoscaling` above are its home's).
   * Required when spokes are configured.
   */
  readonly aws?: FleetAws;
  /** Kubernetes Events and EventBridge events of each sweep (shared/app/sweep-notices.ts). */
  readonly notifier?: Notifier;
}

/** Locations listed at once in a sweep. */
const LOCATION_CONCURRENCY = 4;

export type Progress = (message: string) => void;

/** What one sweep saw, and its plan. */
export interface Observation {
  readonly instances: readonly InstanceFacts[];
  readonly entries: readonly WorkloadEntryObject[];
  readonly groups: ReadonlyMap<string, WorkloadGroupView>;
  readonly plan: ReconcilePlan;
  readonly errors: string[];
  readonly inScope: (groupKey: string) => boolean;
  readonly incomplete?: string;
  /** `account:region` -> why its listing failed (multi-account mode). */
  readonly unlisted?: ReadonlyMap<string, string>;
  /** The Services part (shared/app/services-sweep.ts). */
  readonly services?: ServicesObservation;
}

const emptyCounts = (): GroupCounts => ({
  create: 0,
  update: 0,
  delete: 0,
  unchanged: 0,
  refused: 0,
  failed: 0,
});

/** Thrown for a request the reconciler refuses to run (a namespace outside the allow-list...). */
export class ReconcileRequestError extends Error {
  override readonly name = 'ReconcileRequestError';
}

/**
 * The whole-fleet sweep: list tagged instances and managed entries (all pages), plan with the same
 * domain code as the event path, apply with bounded concurrency, report.
 */
export class Reconciler {
  readonly #deps: ReconcilerDeps;
  constructor(deps: ReconcilerDeps) {
    this.#deps = deps;
  }

  /** The same reconciler with every call bound to one invocation's deadline. */
  #within(deadline: Deadline): Reconciler {
    const d = this.#deps;
    return new Reconciler({
      ...d,
      kube: d.kube.withDeadline(deadline),
      ec2: d.ec2.withDeadline(deadline),
      autoscaling: d.autoscaling.withDeadline(deadline),
      ...(d.aws ? { aws: d.aws.withDeadline(deadline) } : {}),
    });
  }

  /** The EC2 and Auto Scaling adapters of a location: the home's own, or a spoke's member role. */
  #at(location: Location): Pick<ReconcilerDeps, 'ec2' | 'autoscaling'> {
    const d = this.#deps;
    if (d.config.fleet.spokes.length === 0 || isHome(location, d.config.fleet)) return d;
    if (!d.aws)
      throw new Error(`no AWS clients for ${locationKey(location)}: the reconciler has no FleetAws`);
    return d.aws.at(location);
  }

  /**
   * Lists the fleet and the cluster and plans, without writing: what `status` and dry runs show.
   * Throws {@link ReconcileRequestError} for a request outside the allow-list.
   */
  async observe(request: ReconcileRequest = {}, progress: Progress = () => {}): Promise<Observation> {
    const { config, kube, logger, telemetry } = this.#deps;
    const namespaces = this.#namespaces(request);
    const groupFilter = request.groups ? new Set(request.groups) : undefined;
    for (const g of groupFilter ?? []) {
      const ns = g.split('/')[0] ?? '';
      if (g.split('/').length !== 2 || !isNamespaceAllowed(ns, config.allowedNamespaces)) {
        throw new ReconcileRequestError(`group "${g}" is not <namespace>/<name> in an allowed namespace`);
      }
    }
    const nsInScope = (ns: string) => namespaces.includes('*') || namespaces.includes(ns);
    const inScope = (key: string) => {
      const ns = key.split('/')[0] ?? '';
      return (
        nsInScope(ns) &&
        isNamespaceAllowed(ns, config.allowedNamespaces) &&
        (!groupFilter || groupFilter.has(key))
      );
    };

    const errors: string[] = [];
    let incomplete: string | undefined;
    const groups = new Map<string, WorkloadGroupView>();
    const entries: WorkloadEntryObject[] = [];
    const instances: InstanceFacts[] = [];

    const listGroups = async () => {
      for (const ns of namespaces)
        for (const g of await kube.listWorkloadGroups(ns)) groups.set(groupKey(g), g);
    };
    const listEntries = async () => {
      for (const ns of namespaces) {
        for await (const page of kube.listManagedEntries(ns)) {
          entries.push(...page);
          progress(`listed ${entries.length} entries`);
        }
      }
    };
    const tagKey = `${config.tagPrefix}${WORKLOAD_GROUP_TAG}`;
    const fleet = config.fleet;
    const multi = fleet.spokes.length > 0;
    /** Locations whose listing failed (multi-account mode), with why. */
    const unlisted = new Map<string, string>();
    const listLocation = async (location: Location) => {
      const at = this.#at(location);
      const listed: InstanceFacts[] = [];
      for await (const page of at.ec2.listTagged(tagKey)) {
        listed.push(...page);
        progress(`listed ${instances.length + listed.length} instances`);
      }
      // Auto Scaling states only for the instances this sweep is about.
      const inSweep = (f: InstanceFacts) => {
        const group = parseGroupTag(f.tags[tagKey] ?? '');
        return !('reason' in group) && inScope(groupKey(group));
      };
      const read = await withFleetLifecycleStates(listed, at.autoscaling, inSweep);
      instances.push(...read.instances);
      for (const [name, reason] of read.failedGroups) {
        errors.push(
          `Auto Scaling group ${name}${multi ? ` (${locationKey(location)})` : ''}: lifecycle states unreadable, its instances' entries are held this sweep (${reason})`,
        );
      }
    };
    const listInstances = async () => {
      if (!multi) return listLocation(fleet.home);
      // Every account/region at once (bounded); one that cannot be listed only holds its own groups.
      const locations = [fleet.home, ...fleet.spokes];
      const results = await mapSettled(locations, LOCATION_CONCURRENCY, listLocation);
      for (const [i, result] of results.entries()) {
        if (result.status === 'fulfilled') continue;
        const key = locationKey(locations[i]!);
        const reason = (result.reason as Error).message ?? String(result.reason);
        unlisted.set(key, reason);
        if (result.reason instanceof MemberAccessError)
          telemetry.count(Metric.SpokeAccessErrors, 1, { name: 'Location', value: key });
      }
    };
    // One listing after the other: the EC2 XML and the Kubernetes JSON pages are large transient
    // objects, and not holding both at once keeps a 10,000-instance sweep's peak memory down.
    const listings: PromiseSettledResult<void>[] = [];
    for (const list of [listGroups, listEntries, listInstances]) {
      listings.push(
        await list().then(
          () => ({ status: 'fulfilled', value: undefined }) as const,
          (reason: unknown) => ({ status: 'rejected', reason }) as const,
        ),
      );
    }
    for (const [i, result] of listings.entries()) {
      if (result.status === 'rejected') {
        const what = ['WorkloadGroups', 'WorkloadEntries', 'EC2 instances'][i];
        const message = `listing ${what} failed: ${(result.reason as Error).message ?? result.reason}`;
        incomplete ??= message;
        errors.push(message);
      }
    }
    if (incomplete) logger.error('incomplete picture: this sweep makes no deletions', { reason: incomplete });
    const unlistedGroups = new Set<string>();
    for (const [key, reason] of unlisted) {
      const [account, region] = key.split(':') as [string, string];
      const held = new Set(
        entries
          .filter((e) => sameLocation(entryLocation(e, fleet), { account, region }))
          .map(entryGroupKey)
          .filter(inScope),
      );
      for (const g of held) unlistedGroups.add(g);
      const message = `listing EC2 instances in ${key} failed: ${reason}; no deletions for the groups with entries there (${[...held].sort().join(', ') || 'none'})`;
      errors.push(message);
      logger.error(message, { location: key });
    }
    telemetry.count(Metric.ReconcileLocationsUnlisted, unlisted.size);

    const plan = planReconcile({
      instances,
      entries,
      groups,
      policy: config,
      inScope,
      complete: incomplete === undefined,
      unlistedGroups,
      maxDeleteRatio: config.reconcileMaxDeleteRatio,
      force: request.force === true,
    });
    const screened = await this.#screenCreates(plan, errors);
    const services = await observeServices({
      kube,
      namespaces,
      groups,
      inScope,
      defaultMode: config.defaultServiceMode,
      plan: screened,
      entries,
      complete: incomplete === undefined,
      maxDeleteRatio: config.reconcileMaxDeleteRatio,
      force: request.force === true,
      concurrency: config.kubeConcurrency,
      errors,
    });
    return {
      instances,
      entries,
      groups,
      plan: screened,
      errors,
      inScope,
      ...(incomplete ? { incomplete } : {}),
      ...(unlisted.size > 0 ? { unlisted } : {}),
      ...(services ? { services } : {}),
    };
  }

  /**
   * Only managed entries are listed, so a create may be planned under a name a hand-made (or
   * istiod-registered) entry already holds. Such a create can never happen: it is a refusal
   * (`entry-not-owned`), as on the event path, and the plan (dry runs too) shows no change for it.
   * The reads are of planned creates only (none in a converged sweep), and the write reuses them.
   */
  async #screenCreates(plan: ReconcilePlan, errors: string[]): Promise<ReconcilePlan> {
    const creates = plan.changes.filter((c) => c.action === 'create');
    if (creates.length === 0) return plan;
    const { kube, config } = this.#deps;
    const reads = await mapSettled(creates, config.kubeConcurrency, (c) =>
      kube.getWorkloadEntry(c.namespace, c.name),
    );
    const foreign = new Set<PlannedChange>();
    const refusals = [...plan.refusals];
    for (const [i, read] of reads.entries()) {
      const c = creates[i]!;
      if (read.status === 'rejected') {
        errors.push(
          `reading WorkloadEntry ${c.namespace}/${c.name} failed: ${(read.reason as Error).message}`,
        );
        foreign.add(c);
        continue;
      }
      const live = read.value;
      if (live && !isManaged(live)) {
        foreign.add(c);
        refusals.push({
          instanceId: c.instanceId ?? '',
          refusal: {
            reason: RefusalReason.EntryNotOwned,
            message: `WorkloadEntry ${c.namespace}/${c.name} exists and is not managed by the registrar`,
          },
        });
      } else {
        this.#screenedLive.set(c, live);
      }
    }
    return { ...plan, changes: plan.changes.filter((c) => !foreign.has(c)), refusals };
  }

  /** What screening read for each planned create (undefined: no object of that name). */
  readonly #screenedLive = new WeakMap<PlannedChange, WorkloadEntryObject | undefined>();

  async run(
    request: ReconcileRequest = {},
    progress: Progress = () => {},
    deadline?: Deadline,
  ): Promise<ReconcileSummary> {
    if (deadline) return this.#within(deadline).run(request, progress);
    const { config, kube, logger, telemetry } = this.#deps;
    const now = this.#deps.now ?? Date.now;
    const started = now();
    const { instances, entries, groups, plan, errors, incomplete, inScope, unlisted, services } =
      await this.observe(request, progress);
    progress(`planned ${plan.changes.length} changes`);

    const perGroup: Record<string, GroupCounts> = {};
    const counts = (g: string) => {
      perGroup[g] ??= emptyCounts();
      return perGroup[g];
    };
    for (const [g, n] of plan.unchanged) counts(g).unchanged += n;
    if (plan.refusals.length > 0) {
      const tagKey = `${config.tagPrefix}${WORKLOAD_GROUP_TAG}`;
      const groupOf = new Map(instances.map((f) => [f.instanceId, f.tags[tagKey] ?? '(untagged)']));
      for (const r of plan.refusals) counts(groupOf.get(r.instanceId) ?? '(untagged)').refused++;
    }

    const reports: ChangeReport[] = [];
    const describe = (c: PlannedChange, status: ChangeReport['status'], error?: string): ChangeReport => ({
      action: c.action,
      entry: `${c.namespace}/${c.name}`,
      group: c.group,
      ...(c.instanceId ? { instanceId: c.instanceId } : {}),
      reason: c.reason,
      status,
      ...(error ? { error } : {}),
    });

    if (request.dryRun) {
      for (const c of plan.changes) {
        counts(c.group)[c.action]++;
        reports.push(describe(c, 'planned'));
      }
    } else {
      const { current, stale, unread } = await this.#recheck(plan.changes, entries, errors).catch(
        (error: unknown) => {
          // Without the re-read, writes are as fresh as the listing, but no delete goes ahead on it.
          errors.push(`re-reading instances before writing failed: ${(error as Error).message ?? error}`);
          return {
            current: plan.changes.filter((c) => c.action !== 'delete'),
            stale: plan.changes.filter((c) => c.action === 'delete'),
            unread: [] as PlannedChange[],
          };
        },
      );
      for (const c of stale) reports.push(describe(c, 'skipped', 'the instance changed during the sweep'));
      for (const c of unread)
        reports.push(describe(c, 'withheld', 'its account/region could not be re-read before deleting'));
      let done = 0;
      const results = await mapSettled(current, config.kubeConcurrency, async (c) => {
        const uid = await applyChange(
          kube,
          c,
          this.#screenedLive.has(c) ? { live: this.#screenedLive.get(c) } : undefined,
        );
        if (++done % 500 === 0) progress(`applied ${done}/${current.length}`);
        return uid;
      });
      const written = new Map<PlannedChange, string | undefined>();
      for (const [i, result] of results.entries()) {
        const c = current[i]!;
        if (result.status === 'fulfilled') {
          counts(c.group)[c.action]++;
          reports.push(describe(c, 'applied'));
          written.set(c, result.value);
        } else {
          const message = (result.reason as Error).message ?? String(result.reason);
          counts(c.group).failed++;
          errors.push(`${c.action} ${c.namespace}/${c.name}: ${message}`);
          reports.push(describe(c, 'failed', message));
          if (result.reason instanceof KubernetesError) telemetry.count(Metric.KubernetesErrors);
        }
      }
      const corrections = await this.#correctStale(written, groups, inScope, entries, errors).catch(
        (error: unknown) => {
          errors.push(`re-reading instances after writing failed: ${(error as Error).message ?? error}`);
          return [];
        },
      );
      for (const { change, error } of corrections) {
        if (error) {
          counts(change.group).failed++;
          errors.push(`${change.action} ${change.namespace}/${change.name}: ${error}`);
        } else counts(change.group)[change.action]++;
        reports.push(describe(change, error ? 'failed' : 'corrected', error));
      }
    }
    for (const c of plan.withheldDeletes) reports.push(describe(c, 'withheld'));
    // Services after the entries: direct endpoints follow the entries this sweep wrote.
    const serviceReports = !services
      ? []
      : request.dryRun
        ? plannedReports(services)
        : await applyServices(
            kube,
            services,
            { concurrency: config.kubeConcurrency, telemetry, logger },
            errors,
          );
    const safetyStops = [...plan.safetyStops, ...(services?.plan.safetyStops ?? [])];

    const totals = emptyCounts();
    for (const [group, c] of Object.entries(perGroup)) {
      for (const k of Object.keys(totals) as Array<keyof GroupCounts>) totals[k] += c[k];
      if (!request.dryRun) {
        const dim = { name: 'WorkloadGroup', value: group };
        telemetry.count(Metric.ReconcileCreated, c.create, dim);
        telemetry.count(Metric.ReconcileUpdated, c.update, dim);
        telemetry.count(Metric.ReconcileDeleted, c.delete, dim);
        telemetry.count(Metric.ReconcileUnchanged, c.unchanged, dim);
      }
    }
    if (!request.dryRun) {
      telemetry.count(Metric.ReconcileCreated, totals.create);
      telemetry.count(Metric.ReconcileUpdated, totals.update);
      telemetry.count(Metric.ReconcileDeleted, totals.delete);
      telemetry.count(Metric.ReconcileUnchanged, totals.unchanged);
    }
    telemetry.count(Metric.ReconcileErrors, errors.length);
    telemetry.count(Metric.ReconcileSafetyStops, safetyStops.length);
    const durationMs = now() - started;
    telemetry.milliseconds(Metric.ReconcileDuration, durationMs);
    for (const stop of safetyStops) logger.warn(`safety stop: ${stop.message}`, { group: stop.group });

    const pending = request.dryRun
      ? plan.changes.length + serviceReports.filter((r) => r.status === 'planned').length
      : 0;
    const summary: ReconcileSummary = {
      dryRun: request.dryRun === true,
      forced: request.force === true,
      startedAt: new Date(started).toISOString(),
      durationMs,
      converged: errors.length === 0 && safetyStops.length === 0 && pending === 0,
      totals,
      groups: perGroup,
      changes: reports,
      refusals: plan.refusals.map((r) => ({
        instanceId: r.instanceId,
        reason: r.refusal.reason,
        message: r.refusal.message,
      })),
      safetyStops,
      ...(incomplete ? { incompleteListing: incomplete } : {}),
      ...(unlisted ? { unlistedLocations: Object.fromEntries(unlisted) } : {}),
      errors,
      reads: { instances: instances.length, entries: entries.length, groups: groups.size },
      ...(services ? { services: servicesSummary(services, serviceReports) } : {}),
    };
    // Drift metrics, a Kubernetes Event per group, a `Reconcile Completed` event: after the
    // summary is decided, never failing it.
    const notes = this.#deps.notifier?.enabled ? this.#deps.notifier.start(kube) : undefined;
    tellSweep({
      summary,
      drift: sweepDrift(plan, instances, config.tagPrefix),
      groups,
      inScope,
      telemetry,
      ...(notes ? { notes } : {}),
    });
    await notes?.settle();
    return summary;
  }

  /**
   * Re-reads, right after writing, every instance the sweep wrote or deleted for, and corrects a
   * write the fresh read contradicts: the instance terminated between the pre-write re-read and the
   * write (its event found no entry to delete yet), or was started again while its entry was being
   * deleted (its event found the entry still there). Without this, such an entry would be wrong until
   * the next sweep, since the instance's own event has already been handled.
   */
  async #correctStale(
    written: ReadonlyMap<PlannedChange, string | undefined>,
    groups: ReadonlyMap<string, WorkloadGroupView>,
    inScope: (groupKey: string) => boolean,
    entries: readonly WorkloadEntryObject[],
    errors: string[],
  ): Promise<Array<{ change: PlannedChange; error?: string }>> {
    if (![...written.keys()].some((c) => c.instanceId)) return [];
    const { config, kube, logger, telemetry } = this.#deps;
    const { facts: fresh } = await this.#readWhereTheyLive([...written.keys()], entries, (where, error) =>
      errors.push(
        `re-reading instances in ${where} after writing failed: ${(error as Error).message ?? error}`,
      ),
    );
    const fixes: PlannedChange[] = [];
    for (const [c, uid] of written) {
      const facts = fresh.get(c);
      // Only a positive answer corrects ("not found" right after a read that showed it is eventual
      // consistency), and never on an unreadable Auto Scaling state.
      if (!facts || facts.autoScalingStateUnknown) continue;
      const intent = decideInstance(facts, undefined, config);
      if (c.action !== 'delete' && intent.kind === 'deregister') {
        fixes.push({
          action: 'delete',
          namespace: c.namespace,
          name: c.name,
          group: c.group,
          instanceId: facts.instanceId,
          reason: `${intent.reason} (it left while its entry was written)`,
          ...(uid ? { uid } : {}),
          evidence: true,
        });
      } else if (c.action === 'delete' && intent.kind === 'register' && groupKey(intent.group) === c.group) {
        const replan = planReconcile({
          instances: [facts],
          entries: [],
          groups,
          policy: config,
          inScope,
          complete: true,
          maxDeleteRatio: 1,
          force: false,
        });
        for (const create of replan.changes) {
          fixes.push({ ...create, reason: 'the instance came back while its entry was deleted' });
        }
      }
    }
    if (fixes.length === 0) return [];
    telemetry.count(Metric.StaleWritesCorrected, fixes.length);
    logger.info('instances changed while the sweep wrote for them: writes corrected', {
      corrections: fixes.map((f) => `${f.action} ${f.namespace}/${f.name}`),
    });
    const results = await mapSettled(fixes, config.kubeConcurrency, (c) => applyChange(kube, c));
    return fixes.map((change, i) => {
      const r = results[i]!;
      return r.status === 'fulfilled'
        ? { change }
        : { change, error: (r.reason as Error).message ?? String(r.reason) };
    });
  }

  /**
   * Re-reads, just before writing, every instance the plan would write or delete for (one batched
   * DescribeInstances, plus their Auto Scaling states): a sweep over a large fleet takes seconds.
   * An instance that terminated meanwhile must not get its entry back, and one that was started
   * again, or was just launched and missing from the tag-filtered listing, must not lose its entry.
   * Absence alone never deletes an entry whose instance launched inside the launch-visibility window.
   */
  async #recheck(
    changes: readonly PlannedChange[],
    entries: readonly WorkloadEntryObject[],
    errors: string[],
  ): Promise<{ current: PlannedChange[]; stale: PlannedChange[]; unread: PlannedChange[] }> {
    const checked = changes.filter((c) => c.instanceId);
    if (checked.length === 0) return { current: [...changes], stale: [], unread: [] };
    const { config } = this.#deps;
    const now = (this.#deps.now ?? Date.now)();
    const { facts: fresh, unread } = await this.#readWhereTheyLive(checked, entries, (where, error) =>
      errors.push(
        `re-reading instances in ${where} before writing failed: ${(error as Error).message ?? error}; its writes go ahead as listed, its deletions do not`,
      ),
    );
    const launchTimes = new Map<string, string | undefined>();
    for (const e of entries)
      launchTimes.set(
        `${e.metadata.namespace}/${e.metadata.name}`,
        e.metadata.annotations?.[LAUNCH_TIME_ANNOTATION],
      );
    const stale = new Set(
      checked.filter((c) => {
        if (unread.has(c)) return false;
        const facts = fresh.get(c);
        const intent = decideInstance(facts, undefined, config);
        if (c.action !== 'delete') {
          return (
            intent.kind !== 'register' ||
            facts?.autoScalingStateUnknown === true ||
            facts?.privateIpAddress !== c.desired?.spec.address
          );
        }
        if (!facts) {
          const launched = Date.parse(launchTimes.get(`${c.namespace}/${c.name}`) ?? '');
          return Number.isFinite(launched) && now - launched < LAUNCH_VISIBILITY_WINDOW_MS;
        }
        if (intent.kind === 'keep') return true;
        return intent.kind === 'register' && groupKey(intent.group) === c.group;
      }),
    );
    // Without the re-read, writes are as fresh as the listing, but no delete goes ahead on it.
    const withheld = new Set([...unread].filter((c) => c.action === 'delete'));
    return {
      current: changes.filter((c) => !stale.has(c) && !withheld.has(c)),
      stale: [...stale],
      unread: [...withheld],
    };
  }

  /**
   * What EC2 says now about the instances of `changes`, each read where it lives: a create or update
   * where EC2 just listed it (its desired entry says), a delete where its entry was registered from;
   * one DescribeInstances per account/region. In single-account mode a failed read throws; with
   * spokes, a location that cannot be read leaves its changes `unread` and is reported to `onError`.
   */
  async #readWhereTheyLive(
    changes: readonly PlannedChange[],
    entries: readonly WorkloadEntryObject[],
    onError: (location: string, error: unknown) => void,
  ): Promise<{ facts: Map<PlannedChange, InstanceFacts | undefined>; unread: Set<PlannedChange> }> {
    const fleet = this.#deps.config.fleet;
    const byName = new Map(entries.map((e) => [`${e.metadata.namespace}/${e.metadata.name}`, e]));
    const locationOf = (c: PlannedChange): Location => {
      if (fleet.spokes.length === 0) return fleet.home;
      const entry = c.desired ?? byName.get(`${c.namespace}/${c.name}`);
      return entry ? entryLocation(entry, fleet) : fleet.home;
    };
    const byLocation = new Map<string, { location: Location; changes: PlannedChange[] }>();
    for (const c of changes) {
      if (!c.instanceId) continue;
      const location = locationOf(c);
      const key = locationKey(location);
      if (!byLocation.has(key)) byLocation.set(key, { location, changes: [] });
      byLocation.get(key)!.changes.push(c);
    }
    const facts = new Map<PlannedChange, InstanceFacts | undefined>();
    const unread = new Set<PlannedChange>();
    for (const [key, { location, changes: here }] of byLocation) {
      try {
        const at = this.#at(location);
        const read = await describeInstances(
          here.map((c) => c.instanceId!),
          at.ec2,
          at.autoscaling,
        );
        for (const c of here) facts.set(c, read.get(c.instanceId!));
      } catch (error) {
        if (fleet.spokes.length === 0) throw error;
        for (const c of here) unread.add(c);
        if (error instanceof MemberAccessError)
          this.#deps.telemetry.count(Metric.SpokeAccessErrors, 1, { name: 'Location', value: key });
        onError(key, error);
      }
    }
    return { facts, unread };
  }

  #namespaces(request: ReconcileRequest): string[] {
    const allowed = this.#deps.config.allowedNamespaces;
    if (!request.namespaces || request.namespaces.length === 0) return [...allowed];
    for (const ns of request.namespaces) {
      if (!isNamespaceAllowed(ns, allowed))
        throw new ReconcileRequestError(`namespace "${ns}" is not allowed`);
    }
    return [...request.namespaces];
  }
}

/** Carries out one planned change; resolves with the uid of the entry written (create/update). */
async function applyChange(
  kube: KubeWorkloads,
  change: PlannedChange,
  screened?: { live: WorkloadEntryObject | undefined },
): Promise<string | undefined> {
  if (change.action === 'delete') {
    await kube.deleteWorkloadEntry(change.namespace, change.name, change.uid);
    return undefined;
  }
  // An update is of an entry just listed as ours; a create was read when it was screened.
  const write = await writeEntry(
    kube,
    change.desired!,
    change.action === 'update' ? { live: change.live } : screened,
  );
  if (write.result === 'refused') throw new Error(write.refusal.message);
  return write.uid;
}
