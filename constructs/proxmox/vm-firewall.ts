import { Construct } from "constructs";
import { VirtualEnvironmentFirewallOptions } from "../../.gen/providers/proxmox/virtual-environment-firewall-options";
import { VirtualEnvironmentFirewallRules } from "../../.gen/providers/proxmox/virtual-environment-firewall-rules";
import { ProxmoxFirewallRule } from "../firewall/proxmox-firewall-rules";
import { LabVm } from "./lab-vm";

/** Properties for a {@link VmFirewall}. */
export interface VmFirewallProps {
  /** The VM whose firewall this is. */
  readonly vm: LabVm;
  /** The ACCEPT rules, usually from {@link proxmoxFirewallRules}. */
  readonly rules: readonly ProxmoxFirewallRule[];
}

/**
 * A VM's Proxmox firewall: on, input policy DROP, logging what it drops, and one ACCEPT rule per flow
 * into the VM. (The datacenter firewall must be enabled for VM firewalls to act.)
 */
export class VmFirewall extends Construct {
  /** The firewall options resource (enabled, policies, logging). */
  readonly options: VirtualEnvironmentFirewallOptions;
  /** The firewall rules resource. */
  readonly rules: VirtualEnvironmentFirewallRules;

  constructor(scope: Construct, id: string, props: VmFirewallProps) {
    super(scope, id);
    const vm = props.vm.vm;
    const name = props.vm.node.id;
    this.options = new VirtualEnvironmentFirewallOptions(this, "options", {
      nodeName: vm.nodeName,
      vmId: vm.vmId,
      enabled: true,
      inputPolicy: "DROP",
      outputPolicy: "ACCEPT",
      logLevelIn: "info",
      dhcp: false,
      macfilter: true,
      ipfilter: false,
    });
    this.options.overrideLogicalId(name);
    this.rules = new VirtualEnvironmentFirewallRules(this, "rules", {
      nodeName: vm.nodeName,
      vmId: vm.vmId,
      rule: props.rules.map((r) => ({ ...r, enabled: true })),
    });
    this.rules.overrideLogicalId(name);
  }
}
