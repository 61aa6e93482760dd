import type { LabModel, VmPlan, ZoneName } from "./lab-model";
import { FlowEndpoint, parseEndpoint } from "./endpoint";

/**
 * The flow model: every network flow a component of the lab needs, in one list. Everything that
 * enforces separation (pfSense, Proxmox and Talos firewalls) is derived from it.
 *
 * Endpoints: a VM name, `zone:<mgmt|dmz|srv|client>` (`zone:client`: the client LAN's operators), `group:<talos|controlplanes|workers>`, `vip` (the
 * Kubernetes API address), `firewall`, `pods`, `internet` or `proxmox` (the Proxmox hosts).
 */
/** IP protocol of a flow. */
export type Protocol = "tcp" | "udp" | "icmp";

/**
 * One network flow the lab allows: from an endpoint to an endpoint on a protocol and ports, with the
 * reason it exists.
 */
export interface Flow {
  /** Stable flow id, unique in the lab, e.g. `mgmt-client-to-registry-https`. */
  readonly id: string;
  /**
   * Source endpoint: a VM name, `zone:<mgmt|dmz|srv|client>`, `group:<talos|controlplanes|workers>`, `vip`,
   * `firewall`, `pods`, `internet` or `proxmox`.
   */
  readonly from: string;
  /** Destination endpoint, named like `from`. */
  readonly to: string;
  /** IP protocol. */
  readonly protocol: Protocol;
  /** Destination ports and `low-high` ranges; empty for icmp. */
  readonly ports: readonly (number | string)[];
  /** Why the flow exists; shown in RULES.md and in rule comments. */
  readonly purpose: string;
  /** Who declared it: a component of the lab, or the spec's `flows`. */
  readonly origin: "lab" | "spec";
}

export const FLOW_KEYWORDS = ["firewall", "pods", "internet", "proxmox", "vip"] as const;
export const FLOW_GROUPS = ["group:talos", "group:controlplanes", "group:workers"] as const;
/** The zones a spec's or a service's flow may name (`zone:client` is the lab's own: validation refuses it there). */
export const FLOW_ZONES = ["zone:mgmt", "zone:dmz", "zone:srv"] as const;

/** Where an endpoint is, as addresses the lab knows. */
export interface ResolvedEndpoint {
  /** Lab VMs the endpoint stands for (empty for networks and outside endpoints). */
  readonly vms: readonly VmPlan[];
  /** IPv4 subnets (`/32` for single addresses); empty where the lab has no address for it. */
  readonly cidrs: readonly string[];
}

/** A resolved view of a lab's flows. */
export class FlowTable {
  /** Resolved endpoints by `<seenFrom> <endpoint>`: the model does not change once built. */
  private readonly resolved = new Map<string, ResolvedEndpoint>();
  /** Names of the VMs each endpoint stands for. */
  private readonly vmNames = new Map<string, ReadonlySet<string>>();
  /** Parsed endpoints by text: each text is parsed once. */
  private readonly parsed = new Map<string, FlowEndpoint>();

  /**
   * @param model - the lab the flows belong to (not changed afterwards: resolutions are kept)
   * @param flows - every flow of the lab, component flows first
   */
  constructor(
    readonly model: LabModel,
    readonly flows: readonly Flow[],
  ) {}

  /**
   * Addresses of an endpoint. `firewall` resolves to its address in `seenFrom`'s zone (the gateway),
   * since that is the address a zone member talks to or hears from. Each endpoint is resolved once;
   * the result is shared and must not be changed.
   *
   * @throws Error for an endpoint the lab does not know
   */
  resolve(endpoint: string, seenFrom: ZoneName = "srv"): ResolvedEndpoint {
    const key = `${seenFrom} ${endpoint}`;
    let r = this.resolved.get(key);
    if (r === undefined) {
      r = this.resolveOnce(endpoint, seenFrom);
      this.resolved.set(key, r);
    }
    return r;
  }

  /**
   * An endpoint's text parsed into its kind, once per text.
   *
   * @throws Error for a `zone:`/`group:` text that names no zone or group (validation refuses those)
   */
  endpoint(text: string): FlowEndpoint {
    let e = this.parsed.get(text);
    if (e === undefined) {
      e = parseEndpoint(text);
      if (e === undefined) throw new Error(`unknown flow endpoint ${text}`);
      this.parsed.set(text, e);
    }
    return e;
  }

  /** Whether a flow's destination includes the VM; constant time after the first call per endpoint. */
  reaches(flow: Flow, vm: VmPlan): boolean {
    let names = this.vmNames.get(flow.to);
    if (names === undefined) {
      names = new Set(this.resolve(flow.to).vms.map((v) => v.name));
      this.vmNames.set(flow.to, names);
    }
    return names.has(vm.name);
  }

  private resolveOnce(endpoint: string, seenFrom: ZoneName): ResolvedEndpoint {
    const m = this.model;
    const talos = [...m.controlPlanes, ...m.workers];
    const hosts = (vms: readonly VmPlan[]) => ({ vms, cidrs: vms.map((v) => `${v.ip}/32`) });
    const e = this.endpoint(endpoint);
    switch (e.kind) {
      case "group":
        return hosts(e.group === "talos" ? talos : e.group === "controlplanes" ? m.controlPlanes : m.workers);
      case "zone":
        // the client LAN holds the operators' machines, no lab VM
        if (e.zone === "client") return { vms: [], cidrs: [m.clientLan.cidr] };
        return { vms: m.vms.filter((v) => v.module === e.zone), cidrs: [m.zones[e.zone].cidr] };
      case "vip":
        // The VIP is held by one control plane at a time: traffic to it lands on a control plane.
        return { vms: m.controlPlanes, cidrs: [`${m.kubernetesApi.vip}/32`] };
      case "firewall":
        return { vms: [m.firewall], cidrs: [`${m.zones[seenFrom].gateway}/32`] };
      case "pods":
        return { vms: [], cidrs: [m.spec.network.podCidr] };
      case "internet":
        return { vms: [], cidrs: ["0.0.0.0/0"] };
      case "proxmox": {
        // The hosts sit on the WAN side; the lab knows their addresses only when the spec gives them.
        const nodes = m.spec.proxmox.nodes;
        const known = nodes.every((n) => n.address !== undefined);
        return { vms: [], cidrs: known ? nodes.map((n) => `${n.address}/32`) : [] };
      }
      case "host": {
        const vm = m.vms.find((v) => v.name === e.name);
        if (!vm) throw new Error(`unknown flow endpoint ${endpoint}`);
        return hosts([vm]);
      }
    }
  }

  /** Flows whose destination includes the VM. */
  into(vm: VmPlan): Flow[] {
    return this.flows.filter((f) => this.reaches(f, vm));
  }
}

/** Every endpoint name a spec flow may use in this lab. */
export function knownEndpoints(vmNames: readonly string[]): string[] {
  return [...vmNames, ...FLOW_ZONES, ...FLOW_GROUPS, ...FLOW_KEYWORDS];
}
