/**
 * Local stand-in for the EC2 and Auto Scaling Query APIs, reached by the real SDK v3 clients through
 * AWS_ENDPOINT_URL_EC2 / AWS_ENDPOINT_URL_AUTO_SCALING (or the clients' `endpoint` option).
 *
 * One `node:http` server on 127.0.0.1 serves both services: requests are form-encoded POSTs and are
 * dispatched on `Action` (the service is told apart by `Version`, falling back to the action name).
 * Signatures are not checked. See README.md in this folder for behaviour and known deviations.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { seededRandom } from '../seeded-random.ts';
import { nextSequence } from '../sequence.ts';
import {
  completeLifecycleAction,
  describeAutoScalingGroups,
  describeAutoScalingInstances,
  describeLifecycleHooks,
  describeWarmPool,
  LifecycleRegistry,
  recordLifecycleActionHeartbeat,
} from './autoscaling.ts';
import { parseDescribeInstancesXml } from './describe-instances-xml.ts';
import { describeInstances, InstanceStore } from './ec2.ts';
import { EventBusStore, eventsError } from './eventbridge.ts';
import {
  ApiError,
  AUTO_SCALING_VERSION,
  autoScalingResponse,
  EC2_VERSION,
  ec2Response,
  errorResponse,
  type Service,
} from './protocol.ts';
import { flattenMembers, QueueStore, sqsAction, sqsError } from './sqs.ts';
import type { AwsApiStandIn, AwsCall, AwsFaultPlan, FakeInstance } from './types.ts';

export { ASG_NAME_TAG } from './autoscaling.ts';
export { SUPPORTED_FILTERS } from './ec2.ts';
export type {
  AwsApiStandIn,
  AwsCall,
  AwsFaultPlan,
  CompletedLifecycleAction,
  FakeInstance,
  InstanceStateName,
  LifecycleAction,
  LifecycleHookSpec,
  PendingLifecycleAction,
  QueuedMessage,
} from './types.ts';

/** The call log keeps the most recent calls only. */
const MAX_LOGGED_CALLS = 20_000;

type Ec2Handler = (params: URLSearchParams) => Buffer;
type AutoScalingHandler = (params: URLSearchParams) => string;

const AUTO_SCALING_ACTIONS = new Set([
  'CompleteLifecycleAction',
  'RecordLifecycleActionHeartbeat',
  'DescribeLifecycleHooks',
  'DescribeAutoScalingInstances',
  'DescribeAutoScalingGroups',
  'DescribeWarmPool',
]);

function serviceOf(params: URLSearchParams): Service {
  const version = params.get('Version');
  if (version === AUTO_SCALING_VERSION) return 'autoscaling';
  if (version === EC2_VERSION) return 'ec2';
  return AUTO_SCALING_ACTIONS.has(params.get('Action') ?? '') ? 'autoscaling' : 'ec2';
}

function checkRate(name: string, value: number | undefined): void {
  if (value !== undefined && !(value >= 0 && value <= 1))
    throw new Error(`setFaults: ${name} must be within 0..1`);
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export async function startAwsApi(
  options: {
    region?: string;
    latencyMs?: number;
    /** The clock of lifecycle timeouts and queue delays (a test's virtual clock); default Date.now. */
    now?: () => number;
  } = {},
): Promise<AwsApiStandIn> {
  const region = options.region ?? 'us-west-2';
  const now = options.now ?? Date.now;
  const store = new InstanceStore(region);
  const log: AwsCall[] = [];
  const lifecycle = new LifecycleRegistry(store, now, (done) =>
    record({
      seq: nextSequence(),
      at: done.at,
      service: 'autoscaling',
      action: 'LifecycleActionTimeout',
      params: {
        AutoScalingGroupName: done.autoScalingGroupName,
        LifecycleHookName: done.lifecycleHookName,
        InstanceId: done.instanceId,
        LifecycleActionToken: done.token,
        LifecycleActionResult: done.result,
      },
      status: 200,
    }),
  );
  let queues: QueueStore | undefined;
  const buses = new EventBusStore();
  // Bounded: a bench's hundreds of thousands of calls must not grow the stand-in without end.
  const record = (call: AwsCall) => {
    if (log.length >= MAX_LOGGED_CALLS) log.splice(0, log.length - MAX_LOGGED_CALLS + 1);
    log.push(call);
  };
  const byAction = new Map<string, number>();
  let total = 0;
  let faults: AwsFaultPlan | undefined;
  let random = seededRandom(1);
  let latencyMs = options.latencyMs ?? 0;
  let requestHook: ((request: { readonly action: string }) => void | Promise<void>) | undefined;
  if (!(latencyMs >= 0)) throw new Error('latencyMs must be >= 0');

  const ec2Handlers: Record<string, Ec2Handler> = {
    DescribeInstances: (p) => describeInstances(store, p, { failAfterPages: faults?.failDescribeAfterPages }),
  };
  const autoScalingHandlers: Record<string, AutoScalingHandler> = {
    CompleteLifecycleAction: (p) => completeLifecycleAction(lifecycle, p),
    RecordLifecycleActionHeartbeat: (p) => recordLifecycleActionHeartbeat(lifecycle, p),
    DescribeLifecycleHooks: (p) => describeLifecycleHooks(lifecycle, p),
    DescribeAutoScalingInstances: (p) => describeAutoScalingInstances(store, p),
    DescribeAutoScalingGroups: (p) => describeAutoScalingGroups(store, p, region),
    DescribeWarmPool: (p) => describeWarmPool(store, p),
  };

  function answer(params: URLSearchParams, service: Service, action: string, requestId: string): Buffer {
    if (action === '') throw new ApiError('MissingAction', 'The request must contain the parameter Action');
    const handlers = service === 'ec2' ? ec2Handlers : autoScalingHandlers;
    if (!Object.hasOwn(handlers, action)) {
      throw new ApiError(
        'InvalidAction',
        service === 'ec2'
          ? `The action ${action} is not valid for this web service.`
          : `Could not find operation ${action} for version ${AUTO_SCALING_VERSION}`,
      );
    }
    const rate = service === 'ec2' ? faults?.ec2ThrottleRate : faults?.autoScalingThrottleRate;
    if (rate !== undefined && rate > 0 && random() < rate) {
      throw service === 'ec2'
        ? new ApiError('RequestLimitExceeded', 'Request limit exceeded.', 503)
        : new ApiError('Throttling', 'Rate exceeded', 400);
    }
    if (
      service === 'autoscaling' &&
      faults?.autoScalingErrorRate !== undefined &&
      faults.autoScalingErrorRate > 0 &&
      random() < faults.autoScalingErrorRate
    ) {
      throw random() < 0.5
        ? new ApiError(
            'InternalFailure',
            'The request processing has failed because of an unknown error, exception or failure.',
            500,
          )
        : new ApiError(
            'ServiceUnavailable',
            'The request has failed due to a temporary failure of the server.',
            503,
          );
    }
    if (faults?.denyActions?.includes(action)) {
      const iamAction = `${service === 'ec2' ? 'ec2' : 'autoscaling'}:${action}`;
      const who = 'User: arn:aws:sts::123456789012:assumed-role/registrar/standin';
      throw service === 'ec2'
        ? new ApiError(
            'UnauthorizedOperation',
            `You are not authorized to perform this operation. ${who} is not authorized to perform: ${iamAction} because no identity-based policy allows the ${iamAction} action`,
            403,
          )
        : new ApiError(
            'AccessDenied',
            `${who} is not authorized to perform: ${iamAction} because no identity-based policy allows the ${iamAction} action`,
            403,
          );
    }
    const failing = faults?.failAutoScalingGroups ?? [];
    if (service !== 'ec2' && failing.length > 0) {
      const named = [...params].filter(
        ([k]) => k === 'AutoScalingGroupName' || /^AutoScalingGroupNames\.member\.\d+$/.test(k),
      );
      const hit = named.find(([, v]) => failing.includes(v));
      if (hit) throw new ApiError('InternalFailure', `stand-in fault for group ${hit[1]}`, 500);
    }
    return service === 'ec2'
      ? ec2Response(action, requestId, ec2Handlers[action]!(params))
      : Buffer.from(autoScalingResponse(action, requestId, autoScalingHandlers[action]!(params)), 'utf8');
  }

  /** SQS speaks AWS JSON 1.0: `X-Amz-Target: AmazonSQS.<Operation>`, a JSON body and answer. */
  async function handleSqs(req: IncomingMessage, res: ServerResponse, target: string): Promise<void> {
    const requestId = randomUUID();
    const operation = target.slice('AmazonSQS.'.length);
    const text = await readBody(req);
    total++;
    byAction.set(operation, (byAction.get(operation) ?? 0) + 1);
    if (latencyMs > 0) await new Promise((r) => setTimeout(r, latencyMs));
    lifecycle.expire();
    let input: Record<string, unknown> = {};
    let status = 200;
    let payload: string;
    let headers: Record<string, string> = {};
    try {
      try {
        input = JSON.parse(text || '{}') as Record<string, unknown>;
      } catch {
        throw new ApiError('SerializationException', 'Malformed JSON request body.');
      }
      payload = JSON.stringify(sqsAction(queues!, operation, input));
    } catch (err) {
      const apiError =
        err instanceof ApiError
          ? err
          : new ApiError('InternalError', `stand-in failure: ${(err as Error)?.message ?? String(err)}`, 500);
      status = apiError.status;
      ({ body: payload, headers } = sqsError(apiError));
    }
    record({
      seq: nextSequence(),
      at: now(),
      service: 'sqs',
      action: operation,
      params: flattenMembers(input),
      status,
      ...(status !== 200 ? { error: JSON.parse(payload).__type } : {}),
    });
    res.writeHead(status, {
      'content-type': 'application/x-amz-json-1.0',
      'content-length': Buffer.byteLength(payload),
      'x-amzn-requestid': requestId,
      ...headers,
    });
    res.end(payload);
  }

  /** EventBridge speaks AWS JSON 1.1: `X-Amz-Target: AWSEvents.<Operation>`. Only PutEvents. */
  async function handleEvents(req: IncomingMessage, res: ServerResponse, target: string): Promise<void> {
    const operation = target.slice('AWSEvents.'.length);
    const text = await readBody(req);
    total++;
    byAction.set(operation, (byAction.get(operation) ?? 0) + 1);
    if (latencyMs > 0) await new Promise((r) => setTimeout(r, latencyMs));
    let status = 200;
    let payload: string;
    try {
      if (operation !== 'PutEvents') {
        throw new ApiError('UnknownOperationException', `stand-in: EventBridge ${operation} is not served`);
      }
      let input: Record<string, unknown>;
      try {
        input = JSON.parse(text || '{}') as Record<string, unknown>;
      } catch {
        throw new ApiError('SerializationException', 'Malformed JSON request body.');
      }
      payload = JSON.stringify(buses.putEvents(input));
    } catch (err) {
      const apiError =
        err instanceof ApiError
          ? err
          : new ApiError(
              'InternalException',
              `stand-in failure: ${(err as Error)?.message ?? String(err)}`,
              500,
            );
      status = apiError.status;
      payload = eventsError(apiError);
    }
    record({
      seq: nextSequence(),
      at: now(),
      service: 'events',
      action: operation,
      params: {},
      status,
      ...(status !== 200 ? { error: JSON.parse(payload).__type } : {}),
    });
    res.writeHead(status, {
      'content-type': 'application/x-amz-json-1.1',
      'content-length': Buffer.byteLength(payload),
      'x-amzn-requestid': randomUUID(),
    });
    res.end(payload);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const target = req.headers['x-amz-target'];
    if (typeof target === 'string' && target.startsWith('AmazonSQS.')) return handleSqs(req, res, target);
    if (typeof target === 'string' && target.startsWith('AWSEvents.')) return handleEvents(req, res, target);
    const requestId = randomUUID();
    const params = new URLSearchParams(await readBody(req));
    const query = new URL(req.url ?? '/', 'http://localhost').searchParams;
    for (const [k, v] of query) if (!params.has(k)) params.set(k, v);
    const action = params.get('Action') ?? '';
    total++;
    byAction.set(action, (byAction.get(action) ?? 0) + 1);
    const service = serviceOf(params);
    if (latencyMs > 0) await new Promise((r) => setTimeout(r, latencyMs));
    if (requestHook) await requestHook({ action });
    lifecycle.expire();

    let status = 200;
    let error: string | undefined;
    let payload: Buffer;
    try {
      payload = answer(params, service, action, requestId);
    } catch (err) {
      const apiError =
        err instanceof ApiError
          ? err
          : new ApiError('InternalError', `stand-in failure: ${(err as Error)?.message ?? String(err)}`, 500);
      status = apiError.status;
      error = apiError.code;
      payload = Buffer.from(errorResponse(service, apiError, requestId), 'utf8');
    }
    record({
      seq: nextSequence(),
      at: now(),
      service,
      action,
      params: Object.fromEntries([...params].filter(([k]) => k !== 'Action' && k !== 'Version')),
      status,
      ...(error ? { error } : {}),
    });
    res.writeHead(status, {
      'content-type': 'text/xml;charset=UTF-8',
      'content-length': payload.length,
      'x-amzn-requestid': requestId,
      date: new Date().toUTCString(),
    });
    res.end(payload);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(String(err));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  queues = new QueueStore(url, now);
  let closing: Promise<void> | undefined;

  return {
    url,
    env: () => ({
      AWS_ENDPOINT_URL_EC2: url,
      AWS_ENDPOINT_URL_AUTO_SCALING: url,
      AWS_ENDPOINT_URL_SQS: url,
      AWS_ENDPOINT_URL_EVENTBRIDGE: url,
      AWS_REGION: region,
      AWS_ACCESS_KEY_ID: 'AKIASTANDIN000000000',
      AWS_SECRET_ACCESS_KEY: 'stand-in-secret-access-key',
    }),
    putInstance: (instance) => store.put(instance),
    removeInstance: (id) => {
      store.remove(id);
    },
    setState: (id, state) => store.setState(id, state),
    instance: (id) => store.get(id),
    instances: () => store.all(),
    loadDescribeInstancesXml: (xml) => {
      const parsed: FakeInstance[] = parseDescribeInstancesXml(xml);
      for (const i of parsed) store.put(i);
      return parsed.map((i) => ({ ...i, tags: { ...i.tags } }));
    },
    addLifecycleAction: (action) => lifecycle.add(action),
    createEventBus: (name) => buses.create(name),
    publishedEvents: () => buses.published.map((e) => ({ ...e })),
    completedLifecycleActions: () => {
      lifecycle.expire();
      return lifecycle.completed.map((a) => ({ ...a }));
    },
    addLifecycleHook: (hook) => lifecycle.addHook(hook),
    pendingLifecycleActions: () => {
      lifecycle.expire();
      return lifecycle.pending.map((a) => ({ ...a }));
    },
    expireLifecycleActions: () => lifecycle.expire(),
    calls: () => log.map((c) => ({ ...c, params: { ...c.params } })),
    createQueue: (name, queueOptions) => queues!.create(name, queueOptions),
    enqueue: (queueUrl, body, delaySeconds) => queues!.send(queueUrl, body, delaySeconds ?? 0),
    receive: (queueUrl, max) => queues!.receive(queueUrl, max),
    deleteMessage: (queueUrl, receiptHandle) => queues!.delete(queueUrl, receiptHandle),
    nextVisibleAt: (queueUrl) => queues!.nextVisibleAt(queueUrl),
    queueMessages: (queueUrl) => queues!.messages(queueUrl),
    stats: () => ({ total, byAction: Object.fromEntries(byAction) }),
    resetStats: () => {
      total = 0;
      byAction.clear();
      log.length = 0;
    },
    setFaults: (plan) => {
      if (plan) {
        checkRate('ec2ThrottleRate', plan.ec2ThrottleRate);
        checkRate('autoScalingThrottleRate', plan.autoScalingThrottleRate);
        checkRate('autoScalingErrorRate', plan.autoScalingErrorRate);
        const n = plan.failDescribeAfterPages;
        if (n !== undefined && !(Number.isInteger(n) && n >= 0)) {
          throw new Error('setFaults: failDescribeAfterPages must be an integer >= 0');
        }
      }
      faults = plan ? { ...plan } : undefined;
      random = seededRandom(plan?.seed ?? 1);
    },
    setRequestHook: (hook) => {
      requestHook = hook;
    },
    setLatency: (ms) => {
      if (!(ms >= 0)) throw new Error('setLatency: ms must be >= 0');
      latencyMs = ms;
    },
    close: () => {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
