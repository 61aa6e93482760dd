import { hostFlowId } from "../model/lab-flows";
import type { ServiceDescriptor } from "../model/service";
import { MODULE_VARIABLES } from "../render/cloud-init/common";
import { registryProvision, renderRegistryUserData } from "../render/cloud-init/registry";

/**
 * The registry host in MGMT: Harbor (proxy cache of the upstream registries, charts), the internal
 * Talos Image Factory. SRV's only supply chain: the Talos nodes pull every image
 * and installer from it, the Proxmox hosts download the Talos boot ISO from it.
 *
 * Minimum: Harbor's documented 2 CPU, 4 GiB memory, 40 GiB disk (goharbor.io "Harbor Installation
 * Prerequisites").
 */
export const REGISTRY_SERVICE: ServiceDescriptor = {
  role: "registry",
  summary: "Harbor + Image Factory",
  zone: "mgmt",
  zoneReason: "Harbor and the Image Factory serve SRV from MGMT; the DMZ must never hold the supply chain",
  defaultSize: { cores: 4, memoryMiB: 8192, diskGiB: 100 },
  minimumSize: { cores: 2, memoryMiB: 4096, diskGiB: 40, source: "Harbor minimum" },
  startupOrder: 2,
  hostOffset: 11,
  variables: {
    lab_tls_certificate: { type: "string", sensitive: false, description: MODULE_VARIABLES.lab_tls_certificate },
    lab_tls_private_key: { type: "string", sensitive: true, description: MODULE_VARIABLES.lab_tls_private_key },
    harbor_admin_password: { type: "string", sensitive: true, description: MODULE_VARIABLES.harbor_admin_password },
    image_factory_signing_key: { type: "string", sensitive: true, description: MODULE_VARIABLES.image_factory_signing_key },
  },
  flows({ model: m, host }) {
    // The lab runs one Harbor and Image Factory: the host registry.host names (validation holds it so).
    if (host.name !== m.spec.registry.host) return [];
    const factoryPort = m.spec.registry.factoryPort;
    return [
      { id: "talos-registry-https", from: "group:talos", to: host.name, protocol: "tcp", ports: [443], purpose: "Talos pulls every image through the Harbor proxy cache" },
      { id: "talos-image-factory", from: "group:talos", to: host.name, protocol: "tcp", ports: [factoryPort], purpose: "Talos fetches installer images from the internal Image Factory" },
      { id: "proxmox-image-factory", from: "proxmox", to: host.name, protocol: "tcp", ports: [factoryPort], purpose: "Proxmox downloads Talos boot images from the internal Image Factory" },
      ...m.hosts
        .filter((h) => h.role === "client")
        .map((c) => ({ id: hostFlowId(c.name, "registry-https"), from: c.name, to: host.name, protocol: "tcp" as const, ports: [443], purpose: "operator uses the Harbor web UI and API, and pulls OCI charts" })),
    ];
  },
  userData: ({ model, host }) => renderRegistryUserData(model, host),
  // its TLS key, Harbor's password and the factory's signing key come over SSH after boot, never through the snippet
  provision: () => registryProvision(),
};
