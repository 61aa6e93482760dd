import type { HostPlan, LabModel } from "../../model/lab-model";

/** A user-data template and the HCL expression behind each of its templatefile() variables. */
export interface UserDataTemplate {
  /**
   * cloud-init user-data text, a Terraform template: `${name}` placeholders only for the vars below;
   * every other `$`/`%{` is escaped for templatefile (`$${` / `%%{`).
   */
  readonly text: string;
  /** template variable → HCL expression over the module variables listed in MODULE_VARIABLES only. */
  readonly vars: Readonly<Record<string, string>>;
}

/**
 * Module variables the built-in services' user-data reads (all passed in by the root module), with the
 * description each module declares: the common two, then the registry's and the ingress's (their
 * descriptors declare them from here).
 */
export const MODULE_VARIABLES = {
  admin_ssh_public_keys: "list(string): SSH public keys of the admin user",
  lab_ca_certificate: "PEM of the lab CA (public)",
  lab_tls_certificate: "PEM chain of the registry's server certificate (Harbor and the Image Factory)",
  lab_tls_private_key: "sensitive PEM key of that certificate",
  harbor_admin_password: "sensitive initial password of Harbor's admin",
  image_factory_signing_key: "sensitive PEM ECDSA P-256 private key (unencrypted) the Image Factory signs its installers with",
  client_desktop_password: "sensitive password of the admin user on the client hosts, for their desktop (xrdp); SSH stays key-only",
} as const;

/** Template variables every role uses, with their expressions. */
export const COMMON_VARS = {
  ssh_authorized_keys: "jsonencode(var.admin_ssh_public_keys)",
  // A JSON string is a valid YAML double-quoted scalar: the PEM's newlines stay escaped on one line.
  lab_ca_certificate: "jsonencode(var.lab_ca_certificate)",
} as const;

export const COMMON_TEMPLATE = "cloud-init/common.user-data.yaml";

/** Tokens of the shared head of every user-data. */
export function commonValues(model: LabModel, plan: HostPlan): Record<string, string> {
  if (plan.os !== "ubuntu" || !plan.fqdn || !plan.gateway || !plan.ip) throw new Error(`${plan.name} is not an Ubuntu VM`);
  return {
    role: plan.role,
    lab: model.name,
    zone: plan.module,
    hostname: plan.name,
    fqdn: plan.fqdn,
    admin_user: model.spec.adminUser,
    gateway: plan.gateway,
  };
}

/** The registry host of the lab (Harbor, Image Factory, apt proxy). */
export function registryHost(model: LabModel): HostPlan {
  return model.registry;
}

/** Operator clients (SSH into the DMZ ingress is allowed from these only). */
export function clientHosts(model: LabModel): HostPlan[] {
  return model.hosts.filter((h) => h.role === "client");
}

/** Home directory of the admin user on the Ubuntu VMs (cloud-init's default for a new user). */
export function adminHome(model: LabModel): string {
  return `/home/${model.spec.adminUser}`;
}
