import { FlowTable } from "../../model/flows";
import { LabModel, VmPlan } from "../../model/lab-model";
import { talosFirewallRules } from "./host-firewall";
import { harborSignedProject, imageVerificationDocuments } from "./image-verification";

import type { TalosDocument } from "./talos-document";

export type { TalosDocument } from "./talos-document";

/** Registries every air-gapped node needs mirrored, besides the spec's upstreams. */
export const REQUIRED_MIRRORS = ["docker.io", "ghcr.io", "registry.k8s.io", "quay.io", "gcr.io"] as const;

/** Harbor proxy-cache project that mirrors an upstream registry. */
export function harborProxyProject(upstream: string): string {
  return `proxy-${upstream}`;
}

/** Upstream registries every node pulls through a Harbor proxy-cache project: the required ones and the spec's. */
export function mirroredRegistries(m: LabModel): string[] {
  return [...new Set([...REQUIRED_MIRRORS, ...m.spec.registry.upstreams])];
}

/**
 * The Harbor project a node pulls an upstream's images from: the proxy cache, or, while image
 * verification is on, the project of the lab's signed copies (image-verification.ts says why).
 */
export function mirrorProject(m: LabModel, upstream: string): string {
  return m.imageVerification.enabled ? harborSignedProject(upstream) : harborProxyProject(upstream);
}

const doc = (kind: string, body: Record<string, unknown>): TalosDocument => ({ apiVersion: "v1alpha1", kind, ...body });

/** The Talos system volumes the lab encrypts: STATE (machine config) and EPHEMERAL (/var). */
export const ENCRYPTED_SYSTEM_VOLUMES = ["STATE", "EPHEMERAL"] as const;

/**
 * VolumeConfig documents encrypting STATE and EPHEMERAL with LUKS2, keyed as `talos.diskEncryption`
 * says (none when it is `off`). EPHEMERAL's key is locked to STATE (`lockToState`), so the volume
 * opens only together with the STATE it was created with. Talos encrypts a volume only when it
 * formats it: these documents take effect at install time, never on a running node.
 */
export function diskEncryptionDocuments(m: LabModel): TalosDocument[] {
  if (m.diskEncryption === "off") return [];
  const key = m.diskEncryption === "tpm" ? { tpm: { checkSecurebootStatusOnEnroll: true } } : { nodeID: {} };
  return ENCRYPTED_SYSTEM_VOLUMES.map((name) =>
    doc("VolumeConfig", {
      name,
      encryption: { provider: "luks2", keys: [{ slot: 0, ...key, ...(name === "STATE" ? {} : { lockToState: true }) }] },
    }),
  );
}

/** Documents every node gets. */
export function allNodesDocuments(m: LabModel): TalosDocument[] {
  const s = m.spec;
  const srv = m.zones.srv;
  const harbor = s.registry.fqdn;
  return [
    {
      machine: {
        install: { disk: s.talos.installDisk, image: m.imageFactory.installerImage, wipe: false },
        kubelet: { nodeIP: { validSubnets: [srv.cidr] } },
      },
      cluster: {
        clusterName: s.talos.clusterName,
        network: { cni: { name: "none" }, podSubnets: [s.network.podCidr], serviceSubnets: [s.network.serviceCidr] },
        discovery: { enabled: false },
      },
    },
    ...mirroredRegistries(m).map((upstream) =>
      doc("RegistryMirrorConfig", {
        name: upstream,
        endpoints: [{ url: `https://${harbor}/v2/${mirrorProject(m, upstream)}`, overridePath: true }],
        skipFallback: true,
      }),
    ),
    doc("ResolverConfig", { nameservers: [{ address: srv.gateway }], searchDomains: { domains: [srv.domain] } }),
    doc("TimeSyncConfig", { ntp: { servers: [srv.gateway] } }),
    doc("NetworkDefaultActionConfig", { ingress: "block" }),
    ...diskEncryptionDocuments(m),
    ...imageVerificationDocuments(m),
  ];
}

/** Hosts whose TLS must chain to the lab CA: Harbor and the Image Factory. */
export function registryTlsHosts(m: LabModel): string[] {
  return [m.spec.registry.fqdn, m.imageFactory.host];
}

/**
 * RegistryTLSConfig documents trusting the lab CA. The CA comes from a variable at apply time, so the
 * sidecar is a template; `ca` is the PEM text placeholder.
 */
export function registryTlsDocuments(m: LabModel, ca: string): TalosDocument[] {
  return registryTlsHosts(m).map((name) => doc("RegistryTLSConfig", { name, ca }));
}

/** Documents of one role: control planes get the VIP and API names, both get their firewall rules. */
export function roleDocuments(m: LabModel, flows: FlowTable, role: "controlplane" | "worker"): TalosDocument[] {
  const nodes = role === "controlplane" ? m.controlPlanes : m.workers;
  const rules = talosFirewallRules(flows, nodes).shared;
  if (role === "worker") return [...rules];
  const api = m.kubernetesApi;
  return [
    {
      machine: { certSANs: [api.vip, api.fqdn] },
      cluster: { apiServer: { certSANs: [api.vip, api.fqdn] }, etcd: { advertisedSubnets: [m.zones.srv.cidr] } },
    },
    doc("Layer2VIPConfig", { name: api.vip, link: m.spec.talos.linkName }),
    ...rules,
  ];
}

/** Documents of one node: its name, its address and route, and rules only it needs. */
export function nodeDocuments(m: LabModel, flows: FlowTable, node: VmPlan): TalosDocument[] {
  const peers = node.role === "controlplane" ? m.controlPlanes : m.workers;
  return [
    doc("HostnameConfig", { hostname: node.name, auto: "off" }),
    doc("LinkConfig", {
      name: m.spec.talos.linkName,
      addresses: [{ address: node.address }],
      routes: [{ gateway: node.gateway }],
    }),
    ...(talosFirewallRules(flows, peers).perNode.get(node.name) ?? []),
  ];
}
