import { isMap, parseDocument } from "yaml";
import type { ServiceContext, ServiceUserData } from "../model/service";
import { COMMON_TEMPLATE, COMMON_VARS, commonValues } from "../render/cloud-init/common";
import { embedText, readTemplateFile, renderUserDataText } from "../render/cloud-init/tf-template";

/** The part of a host's cloud-config a service writes, for {@link serviceUserData}. */
export interface ServiceUserDataBody {
  /** Names the template in errors, e.g. its file name. */
  readonly name: string;
  /**
   * The service's cloud-config keys (`packages`, `write_files`, `runcmd`, …), appended to the lab's
   * common head (host name, admin user with the SSH keys, NTP from pfSense, the lab CA). `{{token}}`
   * takes a value from `values` or a file from `files`; `${name}` is a templatefile() variable and
   * must be one of `vars` (or the head's `ssh_authorized_keys` and `lab_ca_certificate`).
   */
  readonly template: string;
  /** One-line values for `{{token}}`: names, addresses, versions (checked: no quotes, `$`, line breaks…). */
  readonly values?: Readonly<Record<string, string>>;
  /**
   * Multi-line files for `{{token}}` placed as the content of a `write_files` block scalar (indented
   * six spaces, `${` escaped for templatefile()).
   */
  readonly files?: Readonly<Record<string, string>>;
  /** The service's own templatefile() variables → HCL expressions over its module variables. */
  readonly vars?: Readonly<Record<string, string>>;
}

/**
 * cloud-init user-data for a host of a service, built on the lab's common head the way the built-in
 * services build theirs: the result is a Terraform template whose only placeholders are the declared
 * variables, so no spec text and no secret is interpreted by Terraform or cloud-init.
 *
 * @throws Error when a token has no value, a value is unsafe for the template, or the template's
 *   `${…}` are not exactly the declared variables
 */
export function serviceUserData(ctx: ServiceContext, body: ServiceUserDataBody): ServiceUserData {
  const vars = { ...COMMON_VARS, ...(body.vars ?? {}) };
  const blocks = Object.fromEntries(Object.entries(body.files ?? {}).map(([k, v]) => [k, embedText(v)]));
  const head = readTemplateFile(COMMON_TEMPLATE);
  const label = `template ${COMMON_TEMPLATE} + ${body.name}`;
  const text = renderUserDataText(label, head + body.template, { ...commonValues(ctx.model, ctx.host), ...(body.values ?? {}) }, blocks, Object.keys(vars));
  // The head hardens every host (no password SSH, no root login, the lab CA): the body adds keys of
  // its own and never sets one of the head's again, which cloud-init would take (the last one wins).
  const headKeys = new Set(topLevelKeys(head));
  const again = topLevelKeys(body.template).filter((k) => headKeys.has(k));
  if (again.length) throw new Error(`${label} sets ${again.join(", ")} again, which the lab's common head sets: a service adds keys, it does not replace the head's`);
  const doc = parseDocument(text, { uniqueKeys: true });
  if (doc.errors.length) throw new Error(`${label} of ${ctx.host.name} is not valid YAML: ${doc.errors[0].message}`);
  if (!isMap(doc.contents)) throw new Error(`${label} of ${ctx.host.name} is not a YAML mapping`);
  return { text, vars };
}

/** Top-level keys of a YAML mapping's text (the head and a body are each a mapping's lines). */
function topLevelKeys(text: string): string[] {
  return [...text.matchAll(/^([A-Za-z_][A-Za-z0-9_]*)\s*:/gm)].map((m) => m[1]);
}
