import { Construct } from "constructs";
import { VirtualEnvironmentFirewallIpset } from "../../.gen/providers/proxmox/virtual-environment-firewall-ipset";
import { VirtualEnvironmentFirewallOptions } from "../../.gen/providers/proxmox/virtual-environment-firewall-options";
import { VirtualEnvironmentFirewallRules } from "../../.gen/providers/proxmox/virtual-environment-firewall-rules";
import { ProxmoxFirewallRule, ProxmoxIpset } from "../render/proxmox/proxmox-firewall-rules";
import { LabVm } from "./lab-vm";

/** Properties for a {@link VmFirewall}. */
export interface VmFirewallProps {
  /** The VM whose firewall this is. */
  readonly vm: LabVm;
  /** The rules, usually from {@link proxmoxFirewallRules}. */
  readonly rules: readonly ProxmoxFirewallRule[];
  /** The VM-level IP sets the rules name (`+<name>`), usually from {@link proxmoxFirewallIpsets}. */
  readonly ipsets?: readonly ProxmoxIpset[];
}

/**
 * A VM's Proxmox firewall: on, input policy DROP, logging what it drops, one ACCEPT rule per flow
 * into the VM, and the VM-level IP sets those rules name. (The datacenter firewall must be enabled for VM firewalls to act.)
 */
export class VmFirewall extends Construct {
  /** The firewall options resource (enabled, policies, logging). */
  readonly options: VirtualEnvironmentFirewallOptions;
  /** The firewall rules resource. */
  readonly rules: VirtualEnvironmentFirewallRules;
  /** The VM's IP sets, by name. */
  readonly ipsets = new Map<string, VirtualEnvironmentFirewallIpset>();

  constructor(scope: Construct, id: string, props: VmFirewallProps) {
    super(scope, id);
    const vm = props.vm.vm;
    const name = props.vm.node.id;
    // one reference each, shared by the resources below (every read of a getter makes a new token)
    const nodeName = vm.nodeName;
    const vmId = vm.vmId;
    this.options = new VirtualEnvironmentFirewallOptions(this, "options", {
      nodeName,
      vmId,
      enabled: true,
      inputPolicy: "DROP",
      outputPolicy: "ACCEPT",
      logLevelIn: "info",
      dhcp: false,
      macfilter: true,
      ipfilter: false,
    });
    this.options.overrideLogicalId(name);
    for (const set of props.ipsets ?? []) {
      const ipset = new VirtualEnvironmentFirewallIpset(this, `ipset-${set.name}`, {
        nodeName,
        vmId,
        name: set.name,
        comment: set.comment,
        cidr: set.cidr.map((c) => ({ name: c.name, comment: c.comment, ...(c.nomatch ? { nomatch: true } : {}) })),
      });
      ipset.overrideLogicalId(`${name}-${set.name}`);
      this.ipsets.set(set.name, ipset);
    }
    this.rules = new VirtualEnvironmentFirewallRules(this, "rules", {
      nodeName,
      vmId,
      rule: props.rules.map((r) => ({ ...r, enabled: true })),
      dependsOn: [...this.ipsets.values()],
    });
    this.rules.overrideLogicalId(name);
  }
}
