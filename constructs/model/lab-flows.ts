import type { LabModel, VmPlan } from "./lab-model";
import { Flow, FlowTable } from "./flows";

type FlowInput = Omit<Flow, "origin">;

/**
 * Id of a flow that belongs to a host: its parts joined with '.', which no host name and no fixed or
 * spec flow id contains. So ids stay distinct however hosts are named (a client `talos` still gets
 * `talos.registry-https`, never the cluster's `talos-registry-https`), and the host is the part
 * before the first '.'.
 */
export function hostFlowId(...parts: string[]): string {
  return parts.join(".");
}

/** Talos's documented intra-cluster ports, and Calico's when it runs with BGP and no encapsulation. */
function clusterFlows(m: LabModel): FlowInput[] {
  const flows: FlowInput[] = [
    { id: "talos-trustd", from: "group:talos", to: "group:controlplanes", protocol: "tcp", ports: [50001], purpose: "Talos nodes fetch certificates from trustd" },
    { id: "talos-apid-proxy", from: "group:controlplanes", to: "group:talos", protocol: "tcp", ports: [50000], purpose: "control planes proxy talosctl calls to other nodes" },
    { id: "etcd-peers", from: "group:controlplanes", to: "group:controlplanes", protocol: "tcp", ports: ["2379-2380"], purpose: "etcd client and peer traffic between control planes" },
    { id: "kube-apiserver-nodes", from: "group:talos", to: "group:controlplanes", protocol: "tcp", ports: [6443], purpose: "kubelets and KubePrism reach the API servers" },
    { id: "kube-apiserver-vip", from: "group:talos", to: "vip", protocol: "tcp", ports: [6443], purpose: "nodes join through the cluster endpoint (VIP)" },
    { id: "kube-apiserver-pods", from: "pods", to: "group:controlplanes", protocol: "tcp", ports: [6443], purpose: "in-cluster clients reach the API through the kubernetes service" },
    { id: "kubelet-api", from: "group:controlplanes", to: "group:talos", protocol: "tcp", ports: [10250], purpose: "API servers reach kubelets (logs, exec, port-forward)" },
    { id: "kubelet-metrics", from: "pods", to: "group:talos", protocol: "tcp", ports: [10250], purpose: "metrics-server scrapes kubelets" },
    { id: "calico-typha", from: "group:talos", to: "group:talos", protocol: "tcp", ports: [5473], purpose: "Calico Felix agents talk to Typha" },
    { id: "pod-network-tcp", from: "pods", to: "pods", protocol: "tcp", ports: ["1-65535"], purpose: "pods talk to pods on other nodes (routed, no encapsulation)" },
    { id: "pod-network-udp", from: "pods", to: "pods", protocol: "udp", ports: ["1-65535"], purpose: "pods talk to pods on other nodes (DNS and other UDP)" },
    { id: "nodes-to-pods", from: "group:talos", to: "pods", protocol: "tcp", ports: ["1-65535"], purpose: "nodes reach pods on other nodes (probes, services)" },
    { id: "calico-bgp-firewall", from: "firewall", to: "group:talos", protocol: "tcp", ports: [179], purpose: "pfSense (FRR) peers with Calico for pod routes" },
    { id: "calico-bgp-nodes", from: "group:talos", to: "firewall", protocol: "tcp", ports: [179], purpose: "Calico peers with pfSense (FRR) for pod routes" },
  ];
  if (m.spec.bgp.nodeToNodeMesh) {
    flows.push({ id: "calico-bgp-mesh", from: "group:talos", to: "group:talos", protocol: "tcp", ports: [179], purpose: "Calico node-to-node BGP mesh" });
  }
  return flows;
}

/** The client host tofu runs on after the bootstrap (apply-steps.json): the spec's, or the first client. */
export function runnerHost(m: LabModel): VmPlan | undefined {
  const clients = m.hosts.filter((h) => h.role === "client");
  return m.spec.apply.runner !== undefined ? clients.find((c) => c.name === m.spec.apply.runner) : clients[0];
}

/**
 * What running tofu takes beyond what an operator's client has anyway: the bpg provider uploads over
 * SSH to the Proxmox node, the talos provider registers the schematic with the Image Factory, and the
 * tree and state reach the runner over SSH through the Proxmox host (the bootstrap's hand-off).
 */
function runnerFlows(m: LabModel): FlowInput[] {
  const runner = runnerHost(m);
  const registry = m.registry;
  if (!runner) return [];
  return [
    { id: hostFlowId(runner.name, "proxmox-ssh"), from: runner.name, to: "proxmox", protocol: "tcp", ports: [22], purpose: "tofu: the bpg provider uploads snippets and files over SSH" },
    { id: hostFlowId(runner.name, "image-factory"), from: runner.name, to: registry.name, protocol: "tcp", ports: [m.spec.registry.factoryPort], purpose: "tofu: the talos provider registers the schematic" },
    {
      id: hostFlowId("proxmox", "ssh", runner.name),
      from: "proxmox",
      to: runner.name,
      protocol: "tcp",
      ports: [22],
      // the same connection serves the runner's own provisioning (provisionFlows leaves it out)
      purpose: m.hosts.some((h) => h.name === runner.name && provisioned(m, h))
        ? "bootstrap hand-off (tree and state to the runner) and its provisioning, through the Proxmox host"
        : "bootstrap hand-off: tree and state to the runner, through the Proxmox host",
    },
  ];
}

/** Whether a host's service delivers something to it over SSH after boot (its provisioning). */
function provisioned(m: LabModel, h: LabModel["hosts"][number]): boolean {
  return m.services.get(h.role)?.provision?.({ model: m, host: h }) !== undefined;
}

/** Flows each zone's members need from the firewall itself and from the outside. */
function zoneFlows(m: LabModel): FlowInput[] {
  const flows: FlowInput[] = [];
  for (const z of ["mgmt", "dmz", "srv"] as const) {
    flows.push(
      { id: `${z}-dns-udp`, from: `zone:${z}`, to: "firewall", protocol: "udp", ports: [53], purpose: `${z.toUpperCase()} resolves names through pfSense` },
      { id: `${z}-dns-tcp`, from: `zone:${z}`, to: "firewall", protocol: "tcp", ports: [53], purpose: `${z.toUpperCase()} resolves large answers through pfSense` },
      { id: `${z}-ntp`, from: `zone:${z}`, to: "firewall", protocol: "udp", ports: [123], purpose: `${z.toUpperCase()} sets its clocks from pfSense` },
    );
  }
  // Harbor's Trivy keeps its vulnerability databases fresh through this flow: they are OCI artefacts on
  // ghcr.io (ghcr.io/aquasecurity/trivy-db and trivy-java-db, Harbor's defaults in goharbor/harbor
  // make/harbor.yml.tmpl), fetched over HTTPS from ghcr.io and pkg-containers.githubusercontent.com
  // (trivy.dev/v0.57/docs/advanced/air-gap, "Network requirements"): tcp 443, nothing more.
  flows.push({ id: "mgmt-internet-web", from: "zone:mgmt", to: "internet", protocol: "tcp", ports: [80, 443], purpose: "registry upstreams, Trivy's vulnerability database, packages and updates for MGMT" });
  return flows;
}

/**
 * The client LAN's flows, the only ones it has: from the operators' LAN to each client host, SSH
 * (tcp/22) and, while the spec's `clientDesktop` is on, remote desktop (RDP through xrdp, tcp/3389;
 * a command-line client listens on no such port, so no layer opens it). Nothing else is reachable
 * from there, and no flow leads into it; validation refuses any other flow naming `zone:client`.
 */
export function clientLanFlows(m: LabModel): FlowInput[] {
  const desktop = m.spec.clientDesktop.enabled;
  return m.hosts
    .filter((h) => h.role === "client")
    .flatMap((h) => [
      { id: hostFlowId(h.name, "client-lan-ssh"), from: "zone:client", to: h.name, protocol: "tcp" as const, ports: [22], purpose: `operators reach ${h.name} over SSH from the client LAN` },
      ...(desktop
        ? [{ id: hostFlowId(h.name, "client-lan-rdp"), from: "zone:client", to: h.name, protocol: "tcp" as const, ports: [3389], purpose: `operators reach ${h.name}'s desktop (RDP, xrdp) from the client LAN` }]
        : []),
    ]);
}

/**
 * Flows the MGMT and DMZ hosts need and offer, from their services' descriptors: service by service
 * in catalog order, each service's hosts in spec order.
 */
function serviceFlows(m: LabModel): FlowInput[] {
  return m.services.all.flatMap((service) =>
    m.hosts.filter((h) => h.role === service.role).flatMap((host) => service.flows?.({ model: m, host }) ?? []),
  );
}

/**
 * The bootstrap provisions MGMT hosts from outside the lab, through their Proxmox node (`ssh -J`):
 * each MGMT host with a provisioning takes SSH from the Proxmox hosts, the runner through its hand-off
 * flow. (DMZ hosts are provisioned by
 * the runner over the operator's SSH flow, which the client service declares.)
 */
function provisionFlows(m: LabModel): FlowInput[] {
  return m.hosts
    // the runner takes SSH from the Proxmox hosts for the hand-off already (runnerFlows)
    .filter((h) => h.module === "mgmt" && provisioned(m, h) && h.name !== runnerHost(m)?.name)
    .map((h) => ({ id: hostFlowId("proxmox", "provision", h.name), from: "proxmox", to: h.name, protocol: "tcp" as const, ports: [22], purpose: `tofu's provisioning writes ${h.name}'s secrets over SSH, through its Proxmox node` }));
}

/** Flows the lab declares itself, its services' not included: DNS, NTP and MGMT's web per zone, the client LAN's, the runner's, the cluster's. */
export function labOwnFlows(m: LabModel): Flow[] {
  return [...zoneFlows(m), ...clientLanFlows(m), ...runnerFlows(m), ...provisionFlows(m), ...clusterFlows(m)].map((f): Flow => ({ ...f, origin: "lab" }));
}

/** Flows the lab's components declare (the spec's own flows not included). */
export function componentFlows(m: LabModel): Flow[] {
  return [...zoneFlows(m), ...clientLanFlows(m), ...serviceFlows(m), ...runnerFlows(m), ...provisionFlows(m), ...clusterFlows(m)].map((f): Flow => ({ ...f, origin: "lab" }));
}

/** The lab's flows: what its components need, then the spec's extra flows. */
export function labFlows(m: LabModel): FlowTable {
  const lab = componentFlows(m);
  const extra = m.spec.flows.map((f): Flow => ({ ...f, origin: "spec" }));
  const ids = new Set(lab.map((f) => f.id));
  const clash = extra.find((f) => ids.has(f.id));
  if (clash) throw new Error(`flow id ${clash.id} is already used by a component of the lab`);
  return new FlowTable(m, [...lab, ...extra]);
}
