import { ServiceCatalog, ServiceDescriptor } from "../model/service";
import { CLIENT_SERVICE } from "./client";
import { INGRESS_SERVICE } from "./ingress";
import { REGISTRY_SERVICE } from "./registry";

export { CLIENT_SERVICE } from "./client";
export { INGRESS_SERVICE } from "./ingress";
export { REGISTRY_SERVICE } from "./registry";
export { serviceUserData, ServiceUserDataBody } from "./user-data";

/**
 * The lab's own services, in the order their flows are listed: the operator's client, the registry
 * (Harbor + Image Factory) and the DMZ ingress.
 */
export const BUILTIN_SERVICES: readonly ServiceDescriptor[] = [CLIENT_SERVICE, REGISTRY_SERVICE, INGRESS_SERVICE];

/**
 * The catalog of a lab: the built-in services, then `extra` in the order given.
 *
 * @throws Error when an extra service claims a built-in role or another extra's
 */
export function serviceCatalog(extra: readonly ServiceDescriptor[] = []): ServiceCatalog {
  return new ServiceCatalog([...BUILTIN_SERVICES, ...extra]);
}
