import { hostFlowId } from "../model/lab-flows";
import type { ServiceDescriptor } from "../model/service";
import { haproxySidecarPath, renderHaproxyCfg } from "../render/haproxy/haproxy-cfg";
import { ingressProvision, renderIngressUserData } from "../render/cloud-init/ingress";

/**
 * The HAProxy ingress in the DMZ: the lab's only host the internet reaches (pfSense's WAN
 * port-forward), forwarding to pod backends through pfSense with the HAProxy Kubernetes Ingress
 * Controller.
 */
export const INGRESS_SERVICE: ServiceDescriptor = {
  role: "ingress",
  summary: "HAProxy",
  zone: "dmz",
  zoneReason: "the ingress host takes internet traffic, so it lives in the DMZ",
  defaultSize: { cores: 2, memoryMiB: 4096, diskGiB: 32 },
  minimumSize: { cores: 1, memoryMiB: 1024, diskGiB: 8, source: "Ubuntu cloud image minimum" },
  startupOrder: 4,
  hostOffset: 10,
  flows({ model: m, host: i }) {
    // Nothing into MGMT: the packages, the controller image and the kubeconfig (a bounded token the
    // runner mints through the API VIP) are pushed to the host over the operator's SSH flow
    // (provision()), never fetched by it.
    return [
      { id: hostFlowId("internet", i.name, "web"), from: "internet", to: i.name, protocol: "tcp", ports: [80, 443], purpose: "public HTTP(S) through the WAN port-forward" },
      { id: hostFlowId(i.name, "kube-api"), from: i.name, to: "vip", protocol: "tcp", ports: [6443], purpose: "ingress controller watches Services and Endpoints" },
      { id: hostFlowId(i.name, "pod-backends"), from: i.name, to: "pods", protocol: "tcp", ports: [...m.spec.network.ingressBackendPorts], purpose: "HAProxy forwards to pod backends through pfSense" },
    ];
  },
  userData: ({ model, host }) => renderIngressUserData(model, host),
  provision: ({ model }) => ingressProvision(model),
  sidecars: ({ model, host }) => ({ [haproxySidecarPath(host)]: renderHaproxyCfg(model, host) }),
};
