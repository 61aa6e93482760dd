import { LabModel, VmPlan } from "../model/lab-model";
import { renderTemplate } from "./template";

/** Terraform template variable the user-data expects (filled by templatefile() at apply time). */
export const USER_DATA_TEMPLATE_VARS = ["ssh_authorized_keys"] as const;

/** Sidecar path of a host's user-data template, relative to the stack root. */
export function userDataSidecarPath(plan: VmPlan): string {
  return `cloud-init/${plan.name}.user-data.yaml.tftpl`;
}

/** cloud-init user-data of an Ubuntu VM: identity, admin user, NTP from the zone gateway, guest agent. */
export function renderUbuntuUserData(model: LabModel, plan: VmPlan): string {
  if (plan.os !== "ubuntu" || !plan.fqdn || !plan.gateway) throw new Error(`${plan.name} is not an Ubuntu VM`);
  return renderTemplate("cloud-init/ubuntu-base.user-data.yaml", {
    role: plan.role,
    lab: model.name,
    zone: plan.module,
    hostname: plan.name,
    fqdn: plan.fqdn,
    admin_user: model.spec.adminUser,
    gateway: plan.gateway,
  });
}
