import { createPublicKey } from "node:crypto";
import { isIpv4 } from "../input/addressing";
import type { TalosDocument } from "../render/talos/machine-documents";

/** A rule of Talos's own (Go-side) validation that the JSON Schema cannot express, broken. */
export interface TalosConfigProblem {
  /** Patch file the offending document is in. */
  readonly file: string;
  /** What is wrong. */
  readonly message: string;
}

/** Legacy v1alpha1 paths that Talos ≥ 1.12 replaced with documents; mixing both styles is refused. */
const LEGACY_PATHS = [
  ["machine", "network"],
  ["machine", "time"],
  ["machine", "registries"],
  ["machine", "env"],
  ["machine", "install", "extraKernelArgs"],
  // removed in favour of the VolumeConfig documents' encryption
  ["machine", "systemDiskEncryption"],
] as const;

const get = (o: unknown, path: readonly string[]): unknown =>
  path.reduce<unknown>((cur, k) => (cur && typeof cur === "object" ? (cur as Record<string, unknown>)[k] : undefined), o);

/**
 * Checks one node's patch documents (all files that end up in its machine config, in merge order).
 * Rules: no legacy network/time/registry keys; VIP is an IP and no node address; registry mirror
 * endpoints are https; a set hostname has `auto: "off"`; firewall rule names are unique; a volume's
 * encryption key slots are unique, and STATE's keys are not locked to STATE (`lockToState`); image
 * verification ends with a `*` deny rule, names no tag or digest in a pattern, and its keys parse.
 */
export function talosConfigProblems(files: ReadonlyMap<string, readonly TalosDocument[]>): TalosConfigProblem[] {
  const problems: TalosConfigProblem[] = [];
  const all = [...files].flatMap(([file, docs]) => docs.map((doc) => ({ file, doc })));
  const nodeAddresses = all
    .filter(({ doc }) => doc.kind === "LinkConfig")
    .flatMap(({ doc }) => ((doc.addresses as { address: string }[]) ?? []).map((a) => a.address.split("/")[0]));
  const ruleNames = new Map<string, string>();

  for (const { file, doc } of all) {
    const add = (message: string) => problems.push({ file, message });
    if (doc.kind === undefined) {
      for (const p of LEGACY_PATHS) if (get(doc, p) !== undefined) add(`legacy key ${p.join(".")} (use the Talos ≥ 1.12 documents)`);
      const endpoint = get(doc, ["cluster", "controlPlane", "endpoint"]);
      if (typeof endpoint === "string" && !endpoint.startsWith("https://")) add(`cluster endpoint ${endpoint} is not https`);
      continue;
    }
    switch (doc.kind) {
      case "Layer2VIPConfig":
        if (!isIpv4(String(doc.name))) add(`Layer2VIPConfig name ${String(doc.name)} is not an IP address`);
        if (nodeAddresses.includes(String(doc.name))) add(`VIP ${String(doc.name)} is also a node address`);
        break;
      case "RegistryMirrorConfig":
        for (const e of (doc.endpoints as { url: string }[]) ?? []) {
          if (!e.url.startsWith("https://")) add(`mirror endpoint ${e.url} for ${String(doc.name)} is not https`);
        }
        break;
      case "HostnameConfig":
        if (doc.hostname !== undefined && doc.auto !== "off") add(`HostnameConfig sets hostname ${String(doc.hostname)} without auto: "off"`);
        break;
      case "VolumeConfig": {
        const keys = (get(doc, ["encryption", "keys"]) as { slot?: number; lockToState?: boolean }[] | undefined) ?? [];
        const slots = keys.map((k) => k.slot ?? 0);
        const repeated = slots.filter((slot, i) => slots.indexOf(slot) !== i);
        if (repeated.length) add(`VolumeConfig ${String(doc.name)} uses key slot ${repeated[0]} twice`);
        if (doc.name === "STATE" && keys.some((k) => k.lockToState)) add("VolumeConfig STATE locks a key to STATE itself (lockToState is for the other volumes)");
        break;
      }
      case "ImageVerificationConfig": {
        // Talos allows an image no rule matches (verify.go at v1.13.9), so only a closing "*" deny
        // refuses the rest; a pattern holding a tag or digest never matches (Validate's warnings).
        const rules = (doc.rules as { image?: string; deny?: boolean; publicKey?: { certificate?: string } }[] | undefined) ?? [];
        const last = rules[rules.length - 1];
        if (!last || last.image !== "*" || last.deny !== true) add('ImageVerificationConfig does not end with the rule {image: "*", deny: true}: Talos allows every image no rule matches');
        rules.forEach((r, i) => {
          const afterRegistry = (r.image ?? "").split("/").slice(1).join("/");
          if ((r.image ?? "").includes("@") || afterRegistry.includes(":")) add(`ImageVerificationConfig rule ${i} pattern ${String(r.image)} names a tag or digest; Talos matches registry and repository only`);
          if (r.publicKey) {
            try {
              createPublicKey({ key: String(r.publicKey.certificate ?? ""), format: "pem" });
            } catch {
              add(`ImageVerificationConfig rule ${i} (${String(r.image)}): publicKey.certificate is no PEM public key`);
            }
          }
        });
        break;
      }
      case "NetworkRuleConfig": {
        const name = String(doc.name);
        const first = ruleNames.get(name);
        if (first) add(`NetworkRuleConfig ${name} is also defined in ${first}`);
        else ruleNames.set(name, file);
        break;
      }
    }
  }
  return problems;
}
