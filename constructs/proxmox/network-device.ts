import { NicPlan } from "../model/lab-model";

/**
 * bpg's `network_device` is a list(object) *attribute*, not a block: in JSON, Terraform rejects an
 * element unless all eleven keys are present. The typed binding drops unset keys, so the VM construct
 * writes the whole list through this function instead.
 */
export interface NetworkDeviceObject {
  readonly bridge: string;
  readonly disconnected: boolean;
  /**
   * Always null: bpg v0.111.1 deprecates `enabled` and warns whenever it is set, true or false
   * (proxmoxtf/resource/vm/network/schema.go:99); a null key is dropped before validation.
   */
  readonly enabled: null;
  readonly firewall: boolean;
  readonly mac_address: string | null;
  readonly model: string;
  readonly mtu: number | null;
  readonly queues: number | null;
  readonly rate_limit: number | null;
  readonly trunks: string | null;
  readonly vlan_id: number | null;
}

export function networkDevice(nic: NicPlan, firewall: boolean): NetworkDeviceObject {
  return {
    bridge: nic.bridge,
    disconnected: false,
    enabled: null,
    firewall,
    mac_address: null,
    model: "virtio",
    mtu: null,
    queues: null,
    rate_limit: null,
    trunks: null,
    vlan_id: nic.vlanId ?? null,
  };
}
