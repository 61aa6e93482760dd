import type { HostPlan, LabModel } from "../../model/lab-model";
import type { UserDataTemplate } from "./common";

/**
 * cloud-init user-data of the lab's Ubuntu VMs, per role, as Terraform templates (secrets come in
 * through templatefile() variables at apply time), the DMZ ingress's HAProxy configuration, and the
 * flows these services need. Pure: no cdktf, no I/O besides reading templates/.
 */

export type { UserDataTemplate } from "./common";
export { MODULE_VARIABLES } from "./common";
export { SERVICE_VERSIONS, checksumSource } from "./versions";
export type { PinnedService, ServiceName } from "./versions";
export { renderHaproxyCfg, haproxySidecarPath, HAPROXY_AUX_CFG_PATH, HAPROXY_STATS_PORT } from "../haproxy/haproxy-cfg";
export {
  FACTORY_PROJECT,
  FACTORY_ROBOT,
  HARBOR_TRIVY_SCANNER,
  REGISTRY_PATHS,
  REGISTRY_VARS,
  SCAN_ALL_SCHEDULE,
  chartMirrorConfig,
  harborBootstrapConfig,
  harborEndpoint,
  proxyProjectMetadata,
  registryProvision,
  throughHarbor,
} from "./registry";
export type { ChartMirrorConfig, HarborBootstrapConfig, HarborEndpoint, HarborProjectMetadata } from "./registry";
export { CLIENT_VARS, clientConfigPaths, clientToolVersions } from "./client";
export { CLIENT_DESKTOP_PACKAGES, CLIENT_DESKTOP_PASSWORD, clientDesktop, clientDesktopInUse, clientDesktopProvision } from "./client-desktop";
export { INGRESS_CONTROLLER, INGRESS_PACKAGES, INGRESS_VARS, ingressProvision, UBUNTU_LINK, podRouteDropInPath, renderIngressFirewall, renderPodRoute, sshClientAddresses } from "./ingress";
export { escapeTemplatefile, fillTerraformTemplate, templateVariables } from "./tf-template";

/**
 * User-data of one Ubuntu VM, from the descriptor of its service.
 *
 * @throws Error for a VM whose role the lab's catalog does not hold (pfSense and Talos have none)
 */
export function renderUserData(model: LabModel, plan: HostPlan): UserDataTemplate {
  const service = model.services.get(plan.role);
  if (!service || plan.os !== "ubuntu") throw new Error(`${plan.name} (${plan.role}) is not an Ubuntu host of the lab`);
  return service.userData({ model, host: plan });
}
