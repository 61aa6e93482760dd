import { resolveLabDefaults } from "../input/defaults";
import { LabSpec, LabSpecSchema } from "../input/lab-spec";
import { LabModel, planLab } from "../model/lab-model";
import type { ServiceCatalog } from "../model/service";
import { serviceCatalog } from "../services";

/**
 * Builds the resolved lab from a validated spec: every VM with its node, id, size, NICs and
 * address, the zones, the Image Factory's addresses and the Kubernetes API. Pure (no cdktf).
 *
 * @param spec - a spec that passed `validateLabSpec` with the same services
 * @param services - the services the hosts run; default: the built-in ones
 * @throws Error for a host whose role `services` does not hold (a spec validated otherwise)
 */
export function buildLabModel(spec: LabSpec, services: ServiceCatalog = serviceCatalog()): LabModel {
  return planLab(spec, services);
}

/**
 * The reference lab of the design, every default filled in (the derived ones included): what
 * `npm run synth` builds.
 */
export function referenceLab(): LabSpec {
  const services = serviceCatalog();
  return resolveLabDefaults(LabSpecSchema.parse({}), (role) => services.get(role)?.hostOffset).spec;
}
