import { createHash } from "node:crypto";

/**
 * Image Factory schematics. A schematic's id is the sha256 of its canonical text, which the factory
 * produces with Go's yaml.v3 (4-space indent, fields in struct order, empty fields left out). Writing
 * exactly that text lets the lab know the id before the factory answers, so installer images in the
 * reviewed patches are literal; the schematic resource checks the factory agrees.
 */
export interface SchematicSpec {
  /** Official system extensions, e.g. `siderolabs/qemu-guest-agent`. */
  readonly officialExtensions: readonly string[];
  /** Extra kernel arguments for the boot image and the installer. */
  readonly extraKernelArgs: readonly string[];
}

/** A plain YAML scalar that stays a string: a letter or digit first, no indicator, no space. */
const PLAIN = /^[A-Za-z0-9][A-Za-z0-9._/:=,-]*$/;
const YAML_WORDS = /^(true|false|yes|no|on|off|y|n|null|~|[-+]?[0-9][0-9._]*)$/i;

function list(indent: string, items: readonly string[]): string {
  return items
    .map((i) => {
      if (!PLAIN.test(i) || YAML_WORDS.test(i)) throw new Error(`schematic value ${JSON.stringify(i)} would need YAML quoting`);
      return `${indent}- ${i}\n`;
    })
    .join("");
}

/** The canonical schematic text (what `POST /schematics` hashes). */
export function renderSchematic(s: SchematicSpec): string {
  let body = "";
  if (s.extraKernelArgs.length) body += `    extraKernelArgs:\n${list("        ", s.extraKernelArgs)}`;
  if (s.officialExtensions.length) body += `    systemExtensions:\n        officialExtensions:\n${list("            ", s.officialExtensions)}`;
  return body ? `customization:\n${body}` : "customization: {}\n";
}

/** The schematic's id: the sha256 (hex) of its canonical text, as the Image Factory computes it. */
export function schematicId(text: string): string {
  return createHash("sha256").update(text, "utf8").digest("hex");
}
