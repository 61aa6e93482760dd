/**
 * "No secret at rest on the hypervisor", judged on the written module JSON alone: Proxmox keeps what
 * its resources carry (snippet contents, file uploads, VM settings and descriptions) in its own
 * storage, readable by whoever reads that storage. So no `proxmox_*` resource may read a sensitive
 * variable of its module, or a value of the talos provider's secret-bearing resources (machine
 * secrets, machine configurations, client configurations, kubeconfigs).
 *
 * References are found the way Terraform reads them, whitespace and all (`var . x` is `var.x` to
 * HCL), in every string of the resource, templates included.
 */

/** A Proxmox resource that would store a secret on the hypervisor. */
export interface SecretAtRest {
  /** `modules/<name>/main.tf.json`. */
  readonly file: string;
  /** `<type>.<name>` of the resource. */
  readonly resource: string;
  /** What it reads: `var.<name>` or a talos resource type. */
  readonly reads: string;
}

/** Talos provider resources and data sources whose values are secrets. */
const TALOS_SECRETS = ["talos_machine_secrets", "talos_machine_configuration", "talos_client_configuration", "talos_cluster_kubeconfig"];

type Json = Record<string, unknown>;

/** Every Proxmox resource of the written modules that reads a secret, in file order. */
export function secretsAtRest(files: ReadonlyMap<string, string>): SecretAtRest[] {
  const out: SecretAtRest[] = [];
  const variable = /\bvar\s*\.\s*([A-Za-z_][A-Za-z0-9_-]*)/g;
  const talos = new RegExp(`\\b(${TALOS_SECRETS.join("|")})\\s*\\.`, "g");
  for (const [file, text] of files) {
    if (!/^modules\/[^/]+\/main\.tf\.json$/.test(file)) continue;
    const doc = JSON.parse(text) as { variable?: Record<string, Json>; resource?: Record<string, Record<string, Json>> };
    const sensitive = new Set(Object.entries(doc.variable ?? {}).filter(([, v]) => v.sensitive === true).map(([k]) => k));
    for (const [type, byName] of Object.entries(doc.resource ?? {})) {
      if (!type.startsWith("proxmox_")) continue;
      for (const [name, r] of Object.entries(byName)) {
        const body = JSON.stringify(r);
        const reads = new Set<string>();
        for (const m of body.matchAll(variable)) if (sensitive.has(m[1])) reads.add(`var.${m[1]}`);
        for (const m of body.matchAll(talos)) reads.add(m[1]);
        for (const x of reads) out.push({ file, resource: `${type}.${name}`, reads: x });
      }
    }
  }
  return out;
}
