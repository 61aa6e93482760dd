/**
 * Gates: points of the apply where tofu waits until a lab service answers before it creates what
 * needs the service. Each is one `terraform_data` whose `local-exec` runs the stack's
 * {@link GATE_SCRIPT} where tofu runs, with the gate in its environment (never in a command line); the
 * resources that need the service depend on it. A gate runs when it is created (the first apply
 * that builds the lab, or `tofu apply -replace=<gate>`); it checks that the service answers over
 * verified TLS, never that it works, and it sends no credential.
 */

import type { LabModel } from "./lab-model";
import { runnerHost } from "./lab-flows";

/** The generated script every gate runs, relative to the stack directory. */
export const GATE_SCRIPT = "gates/wait-for-service.sh";

/** How long the Harbor gate waits, in seconds: Harbor's containers start within minutes of a boot. */
export const REGISTRY_GATE_TIMEOUT_SECONDS = 600;

/**
 * How long the API VIP gate waits, in seconds: after the bootstrap, etcd forms, the API servers start
 * and one control plane takes the VIP; a lab with slow disks takes a quarter of an hour.
 */
export const API_GATE_TIMEOUT_SECONDS = 900;

/** One gate: what it waits for, where it asks, and what the message says when it gives up. */
export interface ServiceGate {
  /** Logical id of the gate's `terraform_data` in its module. */
  readonly id: string;
  /** What is waited for, for the messages, e.g. `Harbor (registry.mgmt.lab.internal)`. */
  readonly name: string;
  /** The https URL asked. */
  readonly url: string;
  /** HTTP statuses that count as answering. */
  readonly accept: readonly number[];
  /**
   * `KEY=VALUE` the answer's JSON body must have at its top level to count, for a service that
   * answers its health check with 200 whatever its health (Harbor: goharbor/harbor
   * src/server/v2.0/handler/health.go returns 200 with `status` "healthy" or "unhealthy").
   */
  readonly json?: string;
  /** Seconds to wait in all. */
  readonly timeoutSeconds: number;
  /** The likely causes when it does not answer. */
  readonly hint: string;
  /**
   * What the CA that verifies the service's certificate is: the lab CA (Harbor) or the cluster's
   * Kubernetes CA (the VIP). The module passes its PEM; it is public.
   */
  readonly ca: "lab" | "cluster";
}

/** The lab's gates: Harbor before the Talos VMs, the Kubernetes API VIP before the Helm releases. */
export function labGates(m: LabModel): { readonly registry: ServiceGate; readonly api: ServiceGate } {
  const fqdn = m.spec.registry.fqdn;
  const runner = runnerHost(m)?.name ?? "the runner";
  return {
    registry: {
      id: "registry-gate",
      name: `Harbor (${fqdn})`,
      url: `https://${fqdn}/api/v2.0/health`,
      accept: [200],
      json: "status=healthy",
      timeoutSeconds: REGISTRY_GATE_TIMEOUT_SECONDS,
      hint:
        `the registry host ${m.registry.name} (${m.registry.ip}) is not provisioned or Harbor is still starting (tofu apply -target=module.mgmt, then systemctl status harbor there), ` +
        `${fqdn} does not resolve to it through pfSense's DNS Resolver (unbound.xml), pfSense does not let ${runner} reach it on 443, ` +
        `or its certificate is not the lab_tls_certificate signed by lab_ca_certificate`,
      ca: "lab",
    },
    api: {
      id: "api-gate",
      name: `the Kubernetes API VIP (${m.kubernetesApi.vip})`,
      url: `${m.kubernetesApi.url}/readyz`,
      // an API server that answers but keeps /readyz from anonymous callers still answers
      accept: [200, 401, 403],
      timeoutSeconds: API_GATE_TIMEOUT_SECONDS,
      hint:
        `the bootstrap has not finished (talosctl -n ${m.controlPlanes[0]?.ip ?? "<first control plane>"} health), no control plane holds the VIP ${m.kubernetesApi.vip} yet (Layer2VIPConfig; it needs a healthy etcd), ` +
        `or pfSense does not let ${runner} reach ${m.kubernetesApi.vip}:6443`,
      ca: "cluster",
    },
  };
}

/** The `local-exec` environment a gate's script reads (see {@link GATE_SCRIPT}); `ca` is the CA's PEM or an expression giving it. */
export function gateEnvironment(gate: ServiceGate, ca: string): Record<string, string> {
  return {
    TE_GATE_NAME: gate.name,
    TE_GATE_URL: gate.url,
    TE_GATE_ACCEPT: gate.accept.join(" "),
    TE_GATE_CA: ca,
    TE_GATE_HINT: gate.hint,
    TE_GATE_TIMEOUT: String(gate.timeoutSeconds),
    ...(gate.json ? { TE_GATE_JSON: gate.json } : {}),
  };
}
