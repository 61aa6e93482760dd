import type { LabModel, VmPlan } from "../../model/lab-model";
import { renderClientUserData } from "./client";
import type { UserDataTemplate } from "./common";
import { renderIngressUserData } from "./ingress";
import { renderRegistryUserData } from "./registry";

/**
 * cloud-init user-data of the lab's Ubuntu VMs, per role, as Terraform templates (secrets come in
 * through templatefile() variables at apply time), the DMZ ingress's HAProxy configuration, and the
 * flows these services need. Pure: no cdktf, no I/O besides reading templates/.
 */

export type { UserDataTemplate } from "./common";
export { MODULE_VARIABLES } from "./common";
export { SERVICE_VERSIONS, checksumSource } from "./versions";
export type { PinnedService, ServiceName } from "./versions";
export { renderHaproxyCfg, haproxySidecarPath, HAPROXY_AUX_CFG_PATH, HAPROXY_STATS_PORT } from "./haproxy";
export {
  APT_PROXY_PORT,
  FACTORY_PROJECT,
  FACTORY_ROBOT,
  REGISTRY_PATHS,
  REGISTRY_VARS,
  harborBootstrapConfig,
  harborEndpoint,
  throughHarbor,
} from "./registry";
export type { HarborBootstrapConfig, HarborEndpoint } from "./registry";
export { CLIENT_VARS, clientConfigPaths, clientToolVersions } from "./client";
export { INGRESS_CONTROLLER, INGRESS_VARS, UBUNTU_LINK, podRouteDropInPath, renderIngressFirewall, renderPodRoute, sshClientAddresses } from "./ingress";
export { escapeTemplatefile, fillTerraformTemplate, templateVariables } from "./tf-template";

/** User-data of one Ubuntu VM, by its role. */
export function renderUserData(model: LabModel, plan: VmPlan): UserDataTemplate {
  switch (plan.role) {
    case "registry":
      return renderRegistryUserData(model, plan);
    case "client":
      return renderClientUserData(model, plan);
    case "ingress":
      return renderIngressUserData(model, plan);
    default:
      throw new Error(`${plan.name} (${plan.role}) is not an Ubuntu host of the lab`);
  }
}
