import type { HostPlan, LabModel } from "../../model/lab-model";
import type { HostProvision } from "../../model/host-provision";
import { INGRESS_CONTROLLER_CONFIG, INGRESS_NAMESPACE, INGRESS_SERVICE_ACCOUNT } from "../platform/platform-charts";
import { clientHosts, COMMON_TEMPLATE, COMMON_VARS, commonValues, UserDataTemplate } from "./common";
import { renderTemplate } from "../text/template";
import { HAPROXY_AUX_CFG_PATH, renderHaproxyCfg } from "../haproxy/haproxy-cfg";
import { throughHarbor } from "./registry";
import { embedFile, embedText, renderUserDataSkeleton } from "./tf-template";
import { SERVICE_VERSIONS } from "./versions";

/**
 * How the controller on the DMZ host meets the cluster. The platform module must provide the
 * ConfigMap and the IngressClass (controller `haproxy.org/ingress-controller/haproxy`), and the
 * ingress-access service account needs read access (get/list/watch) to what the controller watches.
 */
export const INGRESS_CONTROLLER = {
  configMap: `${INGRESS_CONTROLLER_CONFIG.namespace}/${INGRESS_CONTROLLER_CONFIG.name}`,
  ingressClass: "haproxy",
  kubeconfigPath: "/etc/haproxy-ingress/kubeconfig",
} as const;

/** Name of the VM's NIC inside Ubuntu: Proxmox's nocloud network config names net0 `eth0`. */
export const UBUNTU_LINK = "eth0";

/** systemd-networkd drop-in that adds the pod route to the netplan-generated network of the NIC. */
export function podRouteDropInPath(): string {
  return `/etc/systemd/network/10-netplan-${UBUNTU_LINK}.network.d/50-talos-enclave-pod-route.conf`;
}

/** Addresses the ingress host accepts SSH from: the operator clients. */
export function sshClientAddresses(model: LabModel): string[] {
  return clientHosts(model).map((c) => c.ip);
}

/** The host firewall of an ingress host (nftables, `nft -f`). */
export function renderIngressFirewall(model: LabModel, plan: HostPlan): string {
  const clients = sshClientAddresses(model);
  return renderTemplate(
    "cloud-init/ingress/host-firewall.nft",
    { hostname: plan.name, ssh_clients: clients.length ? clients.join(", ") : "(none: the lab has no client host)" },
    { ssh_client_elements: clients.length ? `elements = { ${clients.join(", ")} }` : "# no operator client in the lab: SSH stays closed" },
  );
}

/** The networkd drop-in with the pod route via the DMZ gateway. */
export function renderPodRoute(model: LabModel): string {
  return renderTemplate("cloud-init/ingress/pod-route.conf", {
    pod_cidr: model.spec.network.podCidr,
    gateway: model.zones.dmz.gateway,
    link: UBUNTU_LINK,
  });
}

/** Template variables of the ingress host's user-data: the common ones; its kubeconfig is provisioned over SSH. */
export const INGRESS_VARS = { ...COMMON_VARS } as const;

/** The environment file that names the controller image the host runs (written by the provisioning). */
export const INGRESS_IMAGE_ENV = "/etc/haproxy-ingress/image.env";

/** Ubuntu packages the ingress host runs with, pushed by the runner (the host reaches no package mirror). */
export const INGRESS_PACKAGES = ["qemu-guest-agent", "nftables", "podman"] as const;

/**
 * What the DMZ ingress host gets over SSH from the runner after boot: its packages and the
 * controller image (it opens no connection into MGMT, where the registry is) and the kubeconfig of
 * the ingress-access service account with a token of `network.ingressCredentialDays` that the
 * provisioning mints and a later apply renews (never in its snippet, never a file where tofu runs);
 * then its setup and the controller start (a restart reads the renewed token).
 */
export function ingressProvision(model: LabModel): HostProvision {
  const ctl = SERVICE_VERSIONS.haproxyIngress;
  const image = throughHarbor(model, ctl.image, ctl.version);
  return {
    packages: [...INGRESS_PACKAGES],
    images: [image],
    // the unit reads the image it runs from here, so a new version pushed later is the one that runs
    files: [{ content: `IMAGE=${image}\n`, path: INGRESS_IMAGE_ENV, mode: "0644", owner: "root:root" }],
    tokens: [
      {
        serviceAccount: INGRESS_SERVICE_ACCOUNT,
        namespace: INGRESS_NAMESPACE,
        durationHours: model.spec.network.ingressCredentialDays * 24,
        server: model.kubernetesApi.url,
        path: INGRESS_CONTROLLER.kubeconfigPath,
        mode: "0600",
        owner: "root:root",
      },
    ],
    start: ["talos-enclave-ingress-setup.service", "haproxy-ingress.service"],
  };
}

export function renderIngressUserData(model: LabModel, plan: HostPlan): UserDataTemplate {
  if (plan.role !== "ingress" || plan.module !== "dmz" || !plan.ip) throw new Error(`${plan.name} is not a DMZ ingress host`);
  const ctl = SERVICE_VERSIONS.haproxyIngress;
  const image = throughHarbor(model, ctl.image, ctl.version);
  const clients = sshClientAddresses(model);
  const podCidr = model.spec.network.podCidr;
  const gateway = model.zones.dmz.gateway;
  const text = renderUserDataSkeleton(
    [COMMON_TEMPLATE, "cloud-init/ingress.user-data.yaml"],
    {
      ...commonValues(model, plan),
      controller_version: ctl.version,
      kube_api: model.kubernetesApi.url,
      ip: plan.ip,
      pod_cidr: podCidr,
      controller_image: image,
      ssh_clients: clients.length ? clients.join(", ") : "nowhere (the lab has no client host)",
      aux_cfg_path: HAPROXY_AUX_CFG_PATH,
      route_dropin_path: podRouteDropInPath(),
      link: UBUNTU_LINK,
    },
    {
      haproxy_aux_cfg: embedText(renderHaproxyCfg(model, plan)),
      nftables: embedText(renderIngressFirewall(model, plan)),
      firewall_unit: embedFile("cloud-init/ingress/talos-enclave-firewall.service", {}),
      pod_route: embedText(renderPodRoute(model)),
      setup: embedFile("cloud-init/ingress/ingress-setup.sh", { image_env: INGRESS_IMAGE_ENV, pod_cidr: podCidr, gateway }),
      setup_unit: embedFile("cloud-init/ingress/talos-enclave-ingress-setup.service", {}),
      controller_unit: embedFile("cloud-init/ingress/haproxy-ingress.service", {
        controller_version: ctl.version,
        image_env: INGRESS_IMAGE_ENV,
        aux_cfg_path: HAPROXY_AUX_CFG_PATH,
        controller_configmap: INGRESS_CONTROLLER.configMap,
        ingress_class: INGRESS_CONTROLLER.ingressClass,
        ip: plan.ip,
      }),
    },
    Object.keys(INGRESS_VARS),
  );
  return { text, vars: { ...INGRESS_VARS } };
}
