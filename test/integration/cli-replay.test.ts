import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AWS_EVENTS, sqsEvent, stateChange, withInstance } from '../helpers/fixtures.ts';
import { GROUP_TAG, instance, useHarness } from '../helpers/harness.ts';
import { cli } from './cli-process.ts';

const id = (n: number) => `i-${n.toString(16).padStart(17, '0')}`;

interface Report {
  file: string;
  record: number;
  instanceId?: string;
  decision: string;
  reason: string;
  entries?: string[];
}

describe('CLI: replay', () => {
  const h = useHarness();
  const file = (name: string, text: string) => {
    const path = join(dirname(process.env.KUBECONFIG!), name);
    writeFileSync(path, text);
    return path;
  };
  const json = async (args: string[]) => {
    const out = await cli(['replay', '--output', 'json', ...args]);
    return { ...out, records: (JSON.parse(out.stdout) as { records: Report[] }).records };
  };

  it('prints each record decision with its reason, then the entries; table on stdout, exit 0', async () => {
    h.aws.putInstance(instance('i-abcd1111'));
    const out = await cli(['replay', join(AWS_EVENTS, 'ec2-instance-state-change-pending.json')]);
    expect(out.code).toBe(0);
    expect(out.stderr).toBe('');
    expect(out.stdout).toMatch(/^FILE\s+RECORD\s+INSTANCE\s+DECISION\s+ENTRY\s+REASON$/m);
    expect(out.stdout).toMatch(
      /ec2-instance-state-change-pending\.json\s+1\s+i-abcd1111\s+created\s+bookinfo\/reviews-i-abcd1111/,
    );
    expect(out.stdout).toMatch(/1 records: 1 created/);
    expect(out.stdout).toMatch(/bookinfo\s+reviews-i-abcd1111\s+10\.0\.7\.\d+\s+us-west-2\/us-west-2b/);
  });

  it('every decision, per file and record, as JSON; exit 1 when a record is rejected or a file unreadable', async () => {
    for (let n = 1; n <= 5; n++) h.aws.putInstance(instance(id(n)));
    h.aws.putInstance(instance(id(6), { tags: {} }));
    h.aws.putInstance(instance(id(7), { tags: { [GROUP_TAG]: 'kube-system/reviews' } }));
    await h.send([
      stateChange(id(2), 'running'),
      stateChange(id(3), 'running'),
      stateChange(id(4), 'running'),
    ]);
    h.aws.putInstance(instance(id(3), { privateIpAddress: '10.0.9.9' }));
    h.aws.setState(id(4), 'terminated');
    const batch = file(
      'batch.json',
      JSON.stringify(
        sqsEvent(
          [1, 2, 3, 4, 6, 7].map((n) => stateChange(id(n), n === 4 ? 'terminated' : 'running')),
          'm',
        ),
      ),
    );
    const { code, records, stderr } = await json([
      batch,
      file('garbage.txt', 'not an event at all'),
      join(AWS_EVENTS, 'asg-lifecycle-test-notification.txt'),
      join(dirname(batch), 'missing.json'),
    ]);
    expect(code).toBe(1);
    expect(stderr).toBe('');
    expect(records.map((r) => [r.record, r.instanceId ?? '', r.decision])).toEqual([
      [1, id(1), 'created'],
      [2, id(2), 'unchanged'],
      [3, id(3), 'updated'],
      [4, id(4), 'deleted'],
      [5, id(6), 'ignored'],
      [6, id(7), 'refused'],
      [1, '', 'rejected'],
      [1, '', 'ignored'],
      [0, '', 'failed'],
    ]);
    expect(records[3]!.entries).toEqual([`bookinfo/reviews-${id(4)}`]);
    expect(records[5]!.reason).toMatch(/^namespace-not-allowed: /);
    expect(records[6]!.reason).toMatch(/neither JSON nor an Auto Scaling notification/);
    expect(records[7]!.reason).toMatch(/test notification/);
    expect(records[8]!.reason).toMatch(/cannot read the file: ENOENT/);
  });

  it('a Lambda SNS event goes through the same intake as the handler: a decision, never a crash', async () => {
    h.aws.putInstance(instance(id(8)));
    const sns = file(
      'sns.json',
      JSON.stringify({
        Records: [
          {
            EventSource: 'aws:sns',
            EventVersion: '1.0',
            EventSubscriptionArn: 'arn:aws:sns:us-west-2:123456789012:vm-events:0a1b2c3d',
            Sns: { Type: 'Notification', MessageId: 'x', Message: stateChange(id(8), 'running') },
          },
        ],
      }),
    );
    const { code, records, stderr } = await json([sns]);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(records.map((r) => [r.record, r.instanceId, r.decision])).toEqual([[1, id(8), 'created']]);
    expect(h.entries().map((e) => e.metadata.name)).toEqual([`reviews-${id(8)}`]);
  });

  it('every shape the handler accepts, and garbage, gets a decision per record in both modes', async () => {
    // Prepare
    h.aws.putInstance(instance(id(9)));
    const event = stateChange(id(9), 'running');
    const snsRecord = (Message: unknown, MessageId = 'm1') => ({
      EventSource: 'aws:sns',
      Sns: { Type: 'Notification', MessageId, Message },
    });
    const shapes: Array<[string, string]> = [
      ['eventbridge.json', event],
      [
        'sqs.json',
        JSON.stringify(sqsEvent([event, JSON.stringify({ Type: 'Notification', Message: event })])),
      ],
      ['sns-two.json', JSON.stringify({ Records: [snsRecord(event), snsRecord('garbage', 'm2')] })],
      ['sns-no-message.json', JSON.stringify({ Records: [snsRecord(42)] })],
      ['records-empty.json', '{"Records":[]}'],
      ['records-odd.json', '{"Records":[null, 1, {"eventSource":"aws:sqs"}]}'],
      ['null.json', 'null'],
      ['array.json', '[]'],
      ['string.json', '"text"'],
      ['empty.txt', ''],
      ['truncated.json', event.slice(0, 40)],
    ];
    const files = shapes.map(([name, text]) => file(name, text));
    // Act
    const planned = await json(['--dry-run', ...files]);
    const real = await json(files);
    // Assess
    for (const run of [planned, real]) {
      // The dry run writes nothing, so each record of the instance would create its entry.
      const again = run === planned ? 'created' : 'unchanged';
      expect(run.stderr).toBe('');
      expect(run.code).toBe(1);
      expect(run.records.map((r) => [r.file.split('/').pop(), r.record, r.decision])).toEqual([
        ['eventbridge.json', 1, 'created'],
        ['sqs.json', 1, again],
        ['sqs.json', 2, again],
        ['sns-two.json', 1, again],
        ['sns-two.json', 2, 'rejected'],
        ['sns-no-message.json', 1, 'rejected'],
        ['records-empty.json', 1, 'rejected'],
        ['records-odd.json', 1, 'rejected'],
        ['null.json', 1, 'rejected'],
        ['array.json', 1, 'rejected'],
        ['string.json', 1, 'rejected'],
        ['empty.txt', 1, 'rejected'],
        ['truncated.json', 1, 'rejected'],
      ]);
    }
  });

  it('--dry-run decides like the registrar and writes nothing (same resourceVersions)', async () => {
    for (let n = 1; n <= 3; n++) h.aws.putInstance(instance(id(n)));
    await h.send([1, 2, 3].map((n) => stateChange(id(n), 'running')));
    h.aws.putInstance(instance(id(1), { privateIpAddress: '10.0.9.1' }));
    h.aws.setState(id(3), 'terminated');
    h.aws.putInstance(instance(id(4)));
    const versions = () =>
      h.entries().map((e) => [e.metadata.name, (e.metadata as { resourceVersion?: string }).resourceVersion]);
    const before = versions();
    const writes = h.kube.stats().writes;
    const events = file(
      'events.json',
      JSON.stringify(
        sqsEvent([
          stateChange(id(1), 'running'),
          stateChange(id(2), 'running'),
          stateChange(id(3), 'terminated'),
          stateChange(id(4), 'running'),
        ]),
      ),
    );
    const table = await cli(['replay', '--dry-run', events]);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(
      /dry run, nothing written: 4 records: 1 updated, 1 unchanged, 1 deleted, 1 created/,
    );
    const { records } = await json(['--dry-run', events]);
    expect(records.map((r) => r.decision)).toEqual(['updated', 'unchanged', 'deleted', 'created']);
    expect(h.kube.stats().writes).toBe(writes);
    expect(versions()).toEqual(before);
    // The same events for real make exactly those changes.
    const real = await json([events]);
    expect(real.records.map((r) => r.decision)).toEqual(['updated', 'unchanged', 'deleted', 'created']);
    expect(
      h
        .entries()
        .map((e) => e.metadata.name)
        .sort(),
    ).toEqual([1, 2, 4].map((n) => `reviews-${id(n)}`));
  });

  it('dry run and the real run agree where the registrar checks a hint against EC2', async () => {
    h.aws.putInstance(instance(id(5)));
    h.aws.putInstance(instance(id(6), { instanceLifecycle: 'spot' }));
    await h.send([stateChange(id(5), 'running'), stateChange(id(6), 'running')]);
    const warnings = file(
      'spot.json',
      JSON.stringify(
        sqsEvent([5, 6].map((n) => withInstance('ec2-spot-instance-interruption-warning.json', id(n)))),
      ),
    );
    const planned = await json(['--dry-run', warnings]);
    const real = await json([warnings]);
    // On-demand: the warning cannot be right, the entry stays; Spot: it goes at once.
    expect(planned.records.map((r) => r.decision)).toEqual(['unchanged', 'deleted']);
    expect(real.records.map((r) => r.decision)).toEqual(['unchanged', 'deleted']);
    expect(planned.records[0]!.reason).toMatch(/hint not acted on/);
  });
});
