import { IConstruct } from "constructs";
import { labNetworks, violationProblem } from "../policy/separation-check";
import { SeparationViolation, separationViolations } from "../policy/separation-policy";
import { PolicyContext, PolicyFinding, PolicyRule } from "./policy-pack";
import { LabVm } from "../proxmox/lab-vm";
import { EdgeZone } from "../zones/edge-zone";
import { SrvZone } from "../zones/srv-zone";

/** The constructs violations are attributed to. */
interface Owners {
  readonly host: IConstruct;
  readonly edge?: EdgeZone;
  readonly srv?: SrvZone;
  /** Lab VMs by VM name. */
  readonly vms: ReadonlyMap<string, LabVm>;
}

/**
 * The construct a violation is about: the VM a Proxmox rule or a node's Talos file belongs to, the
 * edge zone for pfSense, the srv zone for shared Talos files; the host when none is found.
 */
function ownerOf(v: SeparationViolation, owners: Owners): IConstruct {
  const { host, edge, srv, vms } = owners;
  if (v.layer === "pfSense") return edge ?? host;
  if (v.layer === "Talos") {
    const node = /^talos\/nodes\/([^/ ]+)\.yaml\b/.exec(v.rule)?.[1];
    return (node !== undefined ? vms.get(node) : undefined) ?? srv ?? host;
  }
  // Proxmox rules start with the VM's name: `<vm> rule 3`, `<vm> network device 1`
  let owner: LabVm | undefined;
  for (const [name, vm] of vms) if (v.rule.startsWith(`${name} `) && name.length > (owner?.vm.nameInput?.length ?? -1)) owner = vm;
  return owner ?? host;
}

/**
 * The separation invariants ({@link separationViolations}) over every file the lab writes: nothing
 * from outside reaches SRV, SRV reaches nothing outside the lab, every pass rule comes from a
 * declared flow and opens no more, only MGMT administers pfSense. A whole-lab rule: it checks the
 * policy host once; each finding names the VM, zone or lab the broken rule belongs to.
 */
export const SEPARATION_RULE: PolicyRule = {
  id: "lab-separation",
  description: "The written firewall layers (pfSense, Proxmox, Talos) keep the zones separated as the flows declare",
  check(host: IConstruct, context: PolicyContext): PolicyFinding[] {
    const violations = separationViolations(labNetworks(context.model), context.files);
    if (!violations.length) return [];
    const all = host.node.findAll();
    const vms = new Map<string, LabVm>();
    for (const c of all) if (c instanceof LabVm && c.vm.nameInput !== undefined) vms.set(c.vm.nameInput, c);
    const owners: Owners = { host, vms, edge: all.find((c): c is EdgeZone => c instanceof EdgeZone), srv: all.find((c): c is SrvZone => c instanceof SrvZone) };
    return violations.map((v) => {
      const p = violationProblem(v);
      return { construct: ownerOf(v, owners), subject: p.path, value: p.value, message: p.message };
    });
  },
};
