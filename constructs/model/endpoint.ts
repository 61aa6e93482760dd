/**
 * Flow endpoints as a typed union. A flow names its ends as text (`from`/`to` in the spec and in
 * flows.json); the generator parses each text once, here, and switches on the kind everywhere else.
 */

/** A zone a `zone:` endpoint names: an internal zone, or the client LAN (operators, no lab members). */
export type EndpointZone = "mgmt" | "dmz" | "srv" | "client";
/** A group of Talos nodes a `group:` endpoint names. */
export type EndpointGroup = "talos" | "controlplanes" | "workers";

/**
 * One end of a flow:
 * - `host`: a lab VM by name;
 * - `zone`: every member of an internal zone (its subnet), or the client LAN's operators (its subnet);
 * - `group`: the Talos nodes, the control planes or the workers;
 * - `vip`: the Kubernetes API address; `firewall`: pfSense itself; `pods`: the pod network;
 *   `internet`: anything outside the lab; `proxmox`: the Proxmox hosts.
 */
export type FlowEndpoint =
  | { readonly kind: "host"; readonly name: string }
  | { readonly kind: "zone"; readonly zone: EndpointZone }
  | { readonly kind: "group"; readonly group: EndpointGroup }
  | { readonly kind: "vip" | "firewall" | "pods" | "internet" | "proxmox" };

const KEYWORDS = new Set(["vip", "firewall", "pods", "internet", "proxmox"]);
const ZONES = new Set<string>(["mgmt", "dmz", "srv", "client"]);
const GROUPS = new Set<string>(["talos", "controlplanes", "workers"]);

/**
 * Parses an endpoint's text: a keyword, `zone:<mgmt|dmz|srv|client>`, `group:<talos|controlplanes|workers>`,
 * or else a host name (whether the lab has that host is the caller's question).
 *
 * @returns undefined for a `zone:` or `group:` text naming no zone or group
 */
export function parseEndpoint(text: string): FlowEndpoint | undefined {
  if (KEYWORDS.has(text)) return { kind: text as "vip" | "firewall" | "pods" | "internet" | "proxmox" };
  if (text.startsWith("zone:")) {
    const zone = text.slice("zone:".length);
    return ZONES.has(zone) ? { kind: "zone", zone: zone as EndpointZone } : undefined;
  }
  if (text.startsWith("group:")) {
    const group = text.slice("group:".length);
    return GROUPS.has(group) ? { kind: "group", group: group as EndpointGroup } : undefined;
  }
  return { kind: "host", name: text };
}

/** The text of an endpoint, as flows and flows.json write it (the inverse of {@link parseEndpoint}). */
export function endpointText(e: FlowEndpoint): string {
  switch (e.kind) {
    case "host":
      return e.name;
    case "zone":
      return `zone:${e.zone}`;
    case "group":
      return `group:${e.group}`;
    default:
      return e.kind;
  }
}
