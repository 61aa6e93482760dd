import { Construct } from "constructs";
import { VirtualEnvironmentClusterFirewall } from "../../.gen/providers/proxmox/virtual-environment-cluster-firewall";

/**
 * The cluster firewall options the lab writes. Every value but `enabled` is Proxmox VE's own default,
 * except the host input policy, which is ACCEPT (see {@link DatacenterFirewall} for why).
 */
export const DATACENTER_FIREWALL_OPTIONS = {
  enabled: true,
  ebtables: true,
  inputPolicy: "ACCEPT",
  outputPolicy: "ACCEPT",
  forwardPolicy: "ACCEPT",
  logRatelimit: { enabled: true, burst: 5, rate: "1/second" },
} as const;

/**
 * The Proxmox datacenter firewall switched on by tofu (`proxmox_virtual_environment_cluster_firewall`,
 * one object per Proxmox cluster, PUT `/cluster/firewall/options`), so the VM firewalls of the lab's
 * VMs act without a hand step: pve-firewall compiles no rule at all, VM or host, while the cluster
 * option `enable` is 0 (pve-firewall `src/PVE/Firewall.pm`, `compile`: `return ({}, {}, {}, {}) if
 * !$cluster_conf->{options}->{enable}`; `enable` defaults to 0 in `$cluster_option_properties`).
 *
 * What the values do and why they are chosen (pve-firewall `src/PVE/Firewall.pm`; bpg v0.111.1
 * `proxmoxtf/resource/cluster/firewall/firewall.go`):
 * - bpg writes every option on every create and update, whether configured or not (`setOptions`,
 *   firewall.go:134-171): an unset `enabled` or `ebtables` is sent as false, an unset policy as the
 *   schema default (input DROP, output and forward ACCEPT, :25-27), so "manage only `enabled`" is not
 *   possible with this resource; each option is therefore set explicitly.
 * - `inputPolicy` ACCEPT: the cluster's `policy_in` is the default of the Proxmox *hosts'* own input
 *   chain (`enable_host_firewall`: `$cluster_options->{policy_in} || 'DROP'`; the host firewall is on
 *   by default, `$host_option_properties->{enable}` default 1). With DROP a host accepts 8006 (API), 22,
 *   VNC, SPICE and migration only from the `management` IP set, which Proxmox fills with
 *   `local_network`, the route that holds the node's cluster address (`local_network()`, shown by
 *   `pve-firewall localnet`). tofu applies this resource from a workstation outside the lab, and later
 *   from the runner through pfSense: either may sit outside that network, and would lose the API and
 *   SSH in the middle of an apply. ACCEPT keeps the hosts reachable exactly as they were with the
 *   firewall off; filtering the hosts is the cluster administrator's decision (and then this switch
 *   goes off, see below). The VMs are not affected: a VM's input policy is its own option
 *   (`$options->{policy_in} || 'DROP'` in `generate_tap_rules_direction`), and the lab sets DROP on every VM
 *   firewall it declares.
 * - `outputPolicy` ACCEPT and `forwardPolicy` ACCEPT: Proxmox's defaults (a host's output chain;
 *   `policy_forward` is read by the nftables proxmox-firewall only), the same as bpg's.
 * - `ebtables` true: Proxmox's default (`ebtables` default 1, `compile_ebtables_filter`); bpg would
 *   otherwise send false and switch the cluster's MAC filter rules off.
 * - `logRatelimit` enabled, burst 5, rate 1/second: Proxmox's defaults for `log_ratelimit`, written
 *   explicitly so the state read back matches the configuration.
 *
 * Cluster-wide: one object per Proxmox cluster, not per lab. Two labs on one cluster (or a cluster
 * whose firewall options an administrator manages) would each write all options; the values above are
 * Proxmox's defaults plus `enable`, so two labs of this project agree, but an administrator's host
 * policy would be overwritten: set the spec's `proxmox.datacenterFirewall` to false there and keep the
 * runbook's hand step. bpg's delete only forgets the object (firewall.go:229-233): a destroy, or turning
 * the switch off later, leaves the datacenter firewall on.
 *
 * Tofu's identity needs `Sys.Modify` (write) and `Sys.Audit` (read) on `/` for it (pve-firewall
 * `src/PVE/API2/Firewall/Cluster.pm`, `set_options` and `get_options`).
 */
export class DatacenterFirewall extends Construct {
  /** The bpg cluster-firewall resource. */
  readonly resource: VirtualEnvironmentClusterFirewall;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    const o = DATACENTER_FIREWALL_OPTIONS;
    this.resource = new VirtualEnvironmentClusterFirewall(this, "options", {
      enabled: o.enabled,
      ebtables: o.ebtables,
      inputPolicy: o.inputPolicy,
      outputPolicy: o.outputPolicy,
      forwardPolicy: o.forwardPolicy,
      logRatelimit: { ...o.logRatelimit },
    });
    this.resource.overrideLogicalId("datacenter");
  }
}
