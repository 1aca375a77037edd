/**
 * Reads a real EC2 DescribeInstances XML response (any API version) into FakeInstance values.
 *
 * Field mapping, per `reservationSet/item/instancesSet/item`:
 * - instanceId, imageId, instanceType, launchTime, subnetId, vpcId, instanceLifecycle ('spot' only)
 * - state               <- instanceState/name
 * - availabilityZone    <- placement/availabilityZone
 * - tags                <- tagSet/item/{key,value}
 * - ownerId             <- the reservation's ownerId
 * - privateIpAddress    <- the instance's TOP-LEVEL privateIpAddress, which is what the SDK returns as
 *   `Instance.PrivateIpAddress`. The network interfaces are not read: in
 *   `libcloud.describe_instances.xml`, i-8474834a has top-level 172.16.9.139 while its primary
 *   interface lists 172.16.4.139; the stand-in keeps 172.16.9.139 and, when describing, renders a
 *   single primary interface carrying that same address.
 * Everything else (public IP, DNS names, security groups, block devices, ...) is dropped.
 */
import { isWellFormedInstanceId, STATE_CODES } from './ec2.ts';
import type { FakeInstance, InstanceStateName } from './types.ts';
import { child, childrenNamed, childText, parseXml } from './xml.ts';

export function parseDescribeInstancesXml(xml: string): FakeInstance[] {
  const root = parseXml(xml);
  if (root.name !== 'DescribeInstancesResponse') {
    throw new Error(`expected a DescribeInstancesResponse document, got <${root.name}>`);
  }
  const out: FakeInstance[] = [];
  for (const reservation of childrenNamed(child(root, 'reservationSet'), 'item')) {
    const ownerId = childText(reservation, 'ownerId');
    for (const item of childrenNamed(child(reservation, 'instancesSet'), 'item')) {
      const instanceId = childText(item, 'instanceId');
      if (instanceId === undefined || !isWellFormedInstanceId(instanceId)) {
        throw new Error(`instance without a well-formed instanceId: ${JSON.stringify(instanceId)}`);
      }
      const state = childText(child(item, 'instanceState'), 'name');
      if (state === undefined || !Object.hasOwn(STATE_CODES, state)) {
        throw new Error(`${instanceId}: unknown instanceState/name ${JSON.stringify(state)}`);
      }
      const availabilityZone = childText(child(item, 'placement'), 'availabilityZone');
      if (availabilityZone === undefined) throw new Error(`${instanceId}: no placement/availabilityZone`);
      const launchTime = childText(item, 'launchTime');
      if (launchTime === undefined) throw new Error(`${instanceId}: no launchTime`);
      const tags: Record<string, string> = {};
      for (const tag of childrenNamed(child(item, 'tagSet'), 'item')) {
        const key = childText(tag, 'key');
        if (key !== undefined) tags[key] = childText(tag, 'value') ?? '';
      }
      const instance: FakeInstance = {
        instanceId,
        state: state as InstanceStateName,
        availabilityZone,
        tags,
        launchTime,
      };
      const optional = {
        privateIpAddress: childText(item, 'privateIpAddress'),
        ownerId,
        subnetId: childText(item, 'subnetId'),
        vpcId: childText(item, 'vpcId'),
        instanceType: childText(item, 'instanceType'),
        imageId: childText(item, 'imageId'),
      };
      for (const [k, v] of Object.entries(optional)) {
        if (v !== undefined) (instance as unknown as Record<string, string>)[k] = v;
      }
      if (childText(item, 'instanceLifecycle') === 'spot') instance.instanceLifecycle = 'spot';
      out.push(instance);
    }
  }
  return out;
}
