/**
 * Schema-conformance checker for Terraform JSON configuration (`*.tf.json`, as
 * written by cdktf), driven by the output of `terraform providers schema -json`.
 *
 * It reports what Terraform itself would reject when decoding the configuration
 * against the provider schemas: unknown or missing arguments, computed-only
 * attributes set in config, block/attribute shape confusion, nesting limits,
 * incomplete object values and literals that cannot convert to the schema type.
 * Strings containing a `${...}` or `%{...}` sequence are expressions of unknown
 * type and are accepted wherever an attribute value is expected.
 */
import * as fs from "node:fs";
import * as path from "node:path";

// ---------------------------------------------------------------------------
// Schema model (format_version 1.x of `terraform providers schema -json`)
// ---------------------------------------------------------------------------

export type CtyPrimitive = "string" | "number" | "bool" | "dynamic";
export type CtyType =
  | CtyPrimitive
  | readonly ["list" | "set" | "map", CtyType]
  // The optional third element lists attributes that may be omitted (`optional()` in type constraints).
  | readonly ["object", Readonly<Record<string, CtyType>>, (readonly string[])?]
  | readonly ["tuple", readonly CtyType[]];

export interface SchemaAttribute {
  type?: CtyType;
  nested_type?: NestedType;
  required?: boolean;
  optional?: boolean;
  computed?: boolean;
  sensitive?: boolean;
  deprecated?: boolean;
  write_only?: boolean;
}

export interface NestedType {
  attributes: Readonly<Record<string, SchemaAttribute>>;
  nesting_mode: "single" | "list" | "set" | "map";
  min_items?: number;
  max_items?: number;
}

export interface SchemaBlock {
  attributes?: Readonly<Record<string, SchemaAttribute>>;
  block_types?: Readonly<Record<string, SchemaBlockType>>;
}

export interface SchemaBlockType {
  nesting_mode: "single" | "group" | "list" | "set" | "map";
  block: SchemaBlock;
  min_items?: number;
  max_items?: number;
}

interface RawSchema {
  block: SchemaBlock;
}

interface RawProviderSchema {
  provider?: RawSchema;
  resource_schemas?: Record<string, RawSchema>;
  data_source_schemas?: Record<string, RawSchema>;
  ephemeral_resource_schemas?: Record<string, RawSchema>;
}

interface RawSchemaFile {
  format_version?: string;
  provider_schemas?: Record<string, RawProviderSchema>;
}

export interface ProviderSchemas {
  /** Provider configuration blocks by local name (`proxmox`, `talos`, `helm`). */
  providers: ReadonlyMap<string, SchemaBlock>;
  /** Provider source address by local name (`registry.terraform.io/bpg/proxmox`). */
  sources: ReadonlyMap<string, string>;
  resources: ReadonlyMap<string, SchemaBlock>;
  dataSources: ReadonlyMap<string, SchemaBlock>;
  ephemeralResources: ReadonlyMap<string, SchemaBlock>;
}

export interface ConformanceProblem {
  file: string;
  address: string;
  message: string;
}

/** Address used for problems that concern a whole file rather than a location in it. */
export const DOCUMENT_ADDRESS = "<document>";

// ---------------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------------

/** Reads every `*.schema.json` in `<schemaDir>/providers/`. */
export function loadProviderSchemas(schemaDir: string): ProviderSchemas {
  const providersDir = path.join(schemaDir, "providers");
  const files = fs
    .readdirSync(providersDir)
    .filter((name) => name.endsWith(".schema.json"))
    .sort();

  const providers = new Map<string, SchemaBlock>();
  const sources = new Map<string, string>();
  const resources = new Map<string, SchemaBlock>();
  const dataSources = new Map<string, SchemaBlock>();
  const ephemeralResources = new Map<string, SchemaBlock>();

  for (const name of files) {
    const file = path.join(providersDir, name);
    const raw = JSON.parse(fs.readFileSync(file, "utf8")) as RawSchemaFile;
    if (!raw.format_version?.startsWith("1.") || !isPlainObject(raw.provider_schemas)) {
      throw new Error(`${file}: not a format_version 1.x provider schema document`);
    }
    for (const [source, schema] of Object.entries(raw.provider_schemas)) {
      const localName = source.slice(source.lastIndexOf("/") + 1);
      const previous = sources.get(localName);
      if (previous !== undefined && previous !== source) {
        throw new Error(`${file}: provider local name "${localName}" is used by both ${previous} and ${source}`);
      }
      sources.set(localName, source);
      providers.set(localName, schema.provider?.block ?? {});
      addBlocks(resources, schema.resource_schemas);
      addBlocks(dataSources, schema.data_source_schemas);
      addBlocks(ephemeralResources, schema.ephemeral_resource_schemas);
    }
  }
  // Terraform's built-in provider (terraform.io/builtin/terraform) ships inside terraform, not in the
  // schema folder; its one resource, as `terraform providers schema -json` of Terraform 1.11 prints it.
  resources.set("terraform_data", TERRAFORM_DATA_BLOCK);
  return { providers, sources, resources, dataSources, ephemeralResources };
}

const TERRAFORM_DATA_BLOCK = {
  attributes: {
    id: { type: "string", computed: true },
    input: { type: "dynamic", optional: true },
    output: { type: "dynamic", computed: true },
    triggers_replace: { type: "dynamic", optional: true },
  },
} as SchemaBlock;

function addBlocks(target: Map<string, SchemaBlock>, schemas: Record<string, RawSchema> | undefined): void {
  for (const [typeName, schema] of Object.entries(schemas ?? {})) target.set(typeName, schema.block);
}

// ---------------------------------------------------------------------------
// Checking
// ---------------------------------------------------------------------------

type JsonObject = Record<string, unknown>;

const RESOURCE_META_ARGUMENTS = [
  "count",
  "for_each",
  "depends_on",
  "provider",
  "lifecycle",
  "provisioner",
  "connection",
];
const DATA_META_ARGUMENTS = ["count", "for_each", "depends_on", "provider", "lifecycle"];
const PROVIDER_META_ARGUMENTS = ["alias", "version"];
const LIFECYCLE_ARGUMENTS = new Set([
  "create_before_destroy",
  "prevent_destroy",
  "ignore_changes",
  "replace_triggered_by",
  "precondition",
  "postcondition",
]);

interface BodyOptions {
  /** Arguments Terraform itself handles on this kind of block (not part of the provider schema). */
  metaArguments?: readonly string[];
  /** `dynamic` blocks are only meaningful in block bodies, not in nested-attribute objects. */
  allowDynamic?: boolean;
}

/** Checks one parsed Terraform JSON document against the provider schemas. */
export function checkTerraformJson(doc: unknown, schemas: ProviderSchemas, file: string): ConformanceProblem[] {
  const checker = new Checker(file);
  if (!isPlainObject(doc)) {
    checker.report(DOCUMENT_ADDRESS, `expected a JSON object at the top level, got ${describe(doc)}`);
    return checker.problems;
  }

  // Sections are walked in document order so problems come out in the order a reader meets them.
  for (const [key, section] of Object.entries(doc)) {
    switch (key) {
      case "resource":
        checker.checkLabelledBlocks(section, key, "resource type", schemas.resources, RESOURCE_META_ARGUMENTS);
        break;
      case "data":
        checker.checkLabelledBlocks(section, key, "data source type", schemas.dataSources, DATA_META_ARGUMENTS);
        break;
      case "ephemeral":
        checker.checkLabelledBlocks(
          section,
          key,
          "ephemeral resource type",
          schemas.ephemeralResources,
          DATA_META_ARGUMENTS
        );
        break;
      case "provider":
        checker.checkProviders(section, schemas.providers);
        break;
    }
  }
  return checker.problems;
}

/** Reads and checks each Terraform JSON file; unreadable or malformed files are reported as problems. */
export function checkTerraformFiles(paths: readonly string[], schemas: ProviderSchemas): ConformanceProblem[] {
  return paths.flatMap((file) => {
    let doc: unknown;
    try {
      doc = JSON.parse(fs.readFileSync(file, "utf8"));
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      return [{ file, address: DOCUMENT_ADDRESS, message: `cannot read Terraform JSON: ${reason}` }];
    }
    return checkTerraformJson(doc, schemas, file);
  });
}

/** One line per problem: `<file>: <address>: <message>`. */
export function formatProblems(problems: readonly ConformanceProblem[]): string {
  return problems.map((p) => `${p.file}: ${p.address}: ${p.message}`).join("\n");
}

class Checker {
  readonly problems: ConformanceProblem[] = [];

  constructor(private readonly file: string) {}

  report(address: string, message: string): void {
    this.problems.push({ file: this.file, address, message });
  }

  /** Walks `<kind>.<type>.<name>` (resource, data, ephemeral). */
  checkLabelledBlocks(
    section: unknown,
    kind: string,
    typeLabel: string,
    schemas: ReadonlyMap<string, SchemaBlock>,
    metaArguments: readonly string[]
  ): void {
    if (!isPlainObject(section)) {
      this.report(kind, `expected an object of ${typeLabel}s, got ${describe(section)}`);
      return;
    }
    for (const [typeName, instances] of Object.entries(section)) {
      const typeAddress = joinAddress(kind, typeName);
      if (!isPlainObject(instances)) {
        this.report(typeAddress, `expected an object of named blocks, got ${describe(instances)}`);
        continue;
      }
      const schema = schemas.get(typeName);
      for (const [name, body] of Object.entries(instances)) {
        const address = joinAddress(typeAddress, name);
        if (schema === undefined) {
          this.report(address, `unknown ${typeLabel} "${typeName}"`);
          continue;
        }
        this.checkBlockBodies(body, schema, address, { metaArguments, allowDynamic: true });
      }
    }
  }

  /** Walks `provider.<name>`, whose value is one configuration or an array of (aliased) configurations. */
  checkProviders(section: unknown, schemas: ReadonlyMap<string, SchemaBlock>): void {
    if (!isPlainObject(section)) {
      this.report("provider", `expected an object of provider configurations, got ${describe(section)}`);
      return;
    }
    for (const [name, config] of Object.entries(section)) {
      const address = joinAddress("provider", name);
      const schema = schemas.get(name);
      if (schema === undefined) {
        this.report(address, `unknown provider "${name}"`);
        continue;
      }
      this.checkBlockBodies(config, schema, address, { metaArguments: PROVIDER_META_ARGUMENTS, allowDynamic: true });
    }
  }

  /** A top-level block value: one body object, or an array of them. */
  private checkBlockBodies(value: unknown, schema: SchemaBlock, address: string, options: BodyOptions): void {
    if (Array.isArray(value)) {
      value.forEach((item, i) => this.checkBlockBodies(item, schema, `${address}[${i}]`, options));
    } else if (isPlainObject(value)) {
      this.checkBody(value, schema, address, options);
    } else {
      this.report(address, `expected an object, got ${describe(value)}`);
    }
  }

  /** Checks the arguments and nested blocks of a block body (or of a nested-attribute object). */
  private checkBody(body: JsonObject, schema: SchemaBlock, address: string, options: BodyOptions = {}): void {
    const attributes = schema.attributes ?? {};
    const blockTypes = schema.block_types ?? {};
    const dynamicBlocks = new Set<string>();

    for (const [key, value] of Object.entries(body)) {
      if (key.startsWith("//")) continue;
      const attribute = own(attributes, key);
      const blockType = own(blockTypes, key);
      if (attribute !== undefined) {
        this.checkAttribute(value, attribute, key, address);
      } else if (blockType !== undefined) {
        this.checkNestedBlocks(value, blockType, key, address);
      } else if (key === "dynamic" && options.allowDynamic) {
        for (const name of this.checkDynamicBlocks(value, blockTypes, joinAddress(address, key)))
          dynamicBlocks.add(name);
      } else if (options.metaArguments?.includes(key)) {
        if (key === "lifecycle") this.checkLifecycle(value, joinAddress(address, key));
      } else {
        this.report(address, `unknown attribute "${key}"`);
      }
    }

    for (const [name, attribute] of Object.entries(attributes)) {
      if (!attribute.required) continue;
      if (!(name in body)) this.report(address, `missing required attribute "${name}"`);
      else if (body[name] === null) this.report(address, `required attribute "${name}" is null`);
    }
    for (const [name, blockType] of Object.entries(blockTypes)) {
      const minItems = blockType.min_items ?? 0;
      // Instances generated by a `dynamic` block cannot be counted statically.
      if (minItems > 0 && !(name in body) && !dynamicBlocks.has(name)) {
        this.report(address, `too few "${name}" blocks: at least ${minItems} required, got 0`);
      }
    }
  }

  private checkAttribute(value: unknown, attribute: SchemaAttribute, name: string, parent: string): void {
    const address = joinAddress(parent, name);
    // Null means "not set" (a null required attribute is reported by checkBody with the missing ones).
    if (value === null) return;
    if (attribute.computed && !attribute.optional && !attribute.required) {
      this.report(address, `attribute "${name}" is computed-only and cannot be set in configuration`);
      return;
    }
    if (isExpression(value)) return;
    if (attribute.nested_type !== undefined) {
      this.checkNestedAttribute(value, attribute.nested_type, name, address);
    } else if (attribute.type !== undefined) {
      this.checkValue(value, attribute.type, address);
    }
  }

  /** Plugin-framework nested attributes: objects whose keys follow an attribute schema. */
  private checkNestedAttribute(value: unknown, nested: NestedType, name: string, address: string): void {
    const schema: SchemaBlock = { attributes: nested.attributes };
    const checkItem = (item: unknown, itemAddress: string): void => {
      if (item === null || isExpression(item)) return;
      if (isPlainObject(item)) this.checkBody(item, schema, itemAddress);
      else this.report(itemAddress, `expected an object for nested attribute "${name}", got ${describe(item)}`);
    };

    switch (nested.nesting_mode) {
      case "single":
        checkItem(value, address);
        return;
      case "list":
      case "set":
        if (!Array.isArray(value)) {
          this.report(address, `expected an array of objects for nested attribute "${name}", got ${describe(value)}`);
          return;
        }
        value.forEach((item, i) => checkItem(item, `${address}[${i}]`));
        this.checkItemCount(value.length, nested, `"${name}" items`, address);
        return;
      case "map":
        if (!isPlainObject(value)) {
          this.report(address, `expected an object of objects for nested attribute "${name}", got ${describe(value)}`);
          return;
        }
        for (const [key, item] of Object.entries(value)) checkItem(item, joinAddress(address, key));
        this.checkItemCount(Object.keys(value).length, nested, `"${name}" items`, address);
        return;
    }
  }

  /** A nested block key: an object or array of objects in JSON syntax, never an expression. */
  private checkNestedBlocks(value: unknown, blockType: SchemaBlockType, name: string, parent: string): void {
    const address = joinAddress(parent, name);
    if (value === null) {
      // JSON syntax treats null as "no blocks".
      this.checkItemCount(0, blockType, `"${name}" blocks`, parent);
      return;
    }

    if (blockType.nesting_mode === "map") {
      if (!isPlainObject(value)) {
        this.report(address, `block "${name}" must be an object of labelled blocks, got ${describe(value)}`);
        return;
      }
      for (const [label, body] of Object.entries(value)) {
        const labelAddress = joinAddress(address, label);
        if (isPlainObject(body)) this.checkBody(body, blockType.block, labelAddress, { allowDynamic: true });
        else this.report(labelAddress, `block "${name}" must be an object, got ${describe(body)}`);
      }
      this.checkItemCount(Object.keys(value).length, blockType, `"${name}" blocks`, parent);
      return;
    }

    if (!isPlainObject(value) && !Array.isArray(value)) {
      this.report(address, `block "${name}" must be an object or an array of objects, got ${describe(value)}`);
      return;
    }
    const items: unknown[] = Array.isArray(value) ? value : [value];
    const indexed = blockType.nesting_mode === "list" || blockType.nesting_mode === "set" || Array.isArray(value);
    items.forEach((item, i) => {
      const itemAddress = indexed ? `${address}[${i}]` : address;
      if (isPlainObject(item)) this.checkBody(item, blockType.block, itemAddress, { allowDynamic: true });
      else this.report(itemAddress, `block "${name}" must be an object, got ${describe(item)}`);
    });
    const singular = blockType.nesting_mode === "single" || blockType.nesting_mode === "group";
    this.checkItemCount(
      items.length,
      singular ? { ...blockType, max_items: 1 } : blockType,
      `"${name}" blocks`,
      parent
    );
  }

  /** `dynamic.<block>` entries; returns the block names they generate. */
  private checkDynamicBlocks(
    value: unknown,
    blockTypes: Readonly<Record<string, SchemaBlockType>>,
    address: string
  ): string[] {
    if (!isPlainObject(value)) {
      this.report(address, `expected an object of dynamic blocks, got ${describe(value)}`);
      return [];
    }
    const names: string[] = [];
    for (const [name, specs] of Object.entries(value)) {
      const blockAddress = joinAddress(address, name);
      const blockType = own(blockTypes, name);
      if (blockType === undefined) {
        this.report(address, `unknown block "${name}" in dynamic`);
        continue;
      }
      names.push(name);
      const list: unknown[] = Array.isArray(specs) ? specs : [specs];
      list.forEach((spec, i) => {
        const specAddress = Array.isArray(specs) ? `${blockAddress}[${i}]` : blockAddress;
        if (!isPlainObject(spec)) {
          this.report(specAddress, `dynamic block must be an object, got ${describe(spec)}`);
          return;
        }
        for (const key of Object.keys(spec)) {
          if (!key.startsWith("//") && !["for_each", "iterator", "labels", "content"].includes(key)) {
            this.report(specAddress, `unknown dynamic block argument "${key}"`);
          }
        }
        if (!("for_each" in spec)) this.report(specAddress, `missing required attribute "for_each"`);
        const content = spec.content;
        if (isPlainObject(content)) {
          this.checkBody(content, blockType.block, joinAddress(specAddress, "content"), { allowDynamic: true });
        } else {
          this.report(specAddress, `dynamic block "content" must be an object, got ${describe(content)}`);
        }
      });
    }
    return names;
  }

  private checkLifecycle(value: unknown, address: string): void {
    const bodies: unknown[] = Array.isArray(value) ? value : [value];
    for (const body of bodies) {
      if (!isPlainObject(body)) {
        this.report(address, `lifecycle must be an object, got ${describe(body)}`);
        continue;
      }
      for (const key of Object.keys(body)) {
        if (!key.startsWith("//") && !LIFECYCLE_ARGUMENTS.has(key)) {
          this.report(address, `unknown lifecycle argument "${key}"`);
        }
      }
    }
  }

  private checkItemCount(
    count: number,
    limits: { min_items?: number; max_items?: number },
    what: string,
    address: string
  ): void {
    if (limits.min_items !== undefined && limits.min_items > 0 && count < limits.min_items) {
      this.report(address, `too few ${what}: at least ${limits.min_items} required, got ${count}`);
    }
    if (limits.max_items !== undefined && limits.max_items > 0 && count > limits.max_items) {
      this.report(address, `too many ${what}: at most ${limits.max_items} allowed, got ${count}`);
    }
  }

  /** Checks a JSON value against a cty type, following Terraform's implicit conversions. */
  private checkValue(value: unknown, type: CtyType, address: string): void {
    if (value === null || isExpression(value)) return;
    const mismatch = (): void => this.report(address, `expected ${typeName(type)}, got ${describe(value)}`);

    if (typeof type === "string") {
      if (!primitiveConverts(value, type)) mismatch();
      return;
    }
    switch (type[0]) {
      case "list":
      case "set": {
        if (!Array.isArray(value)) return mismatch();
        const elementType = type[1];
        value.forEach((item, i) => this.checkValue(item, elementType, `${address}[${i}]`));
        return;
      }
      case "map": {
        if (!isPlainObject(value)) return mismatch();
        const elementType = type[1];
        for (const [key, item] of Object.entries(value)) this.checkValue(item, elementType, joinAddress(address, key));
        return;
      }
      case "tuple": {
        const elementTypes = type[1];
        if (!Array.isArray(value) || value.length !== elementTypes.length) return mismatch();
        value.forEach((item, i) => this.checkValue(item, elementTypes[i], `${address}[${i}]`));
        return;
      }
      case "object": {
        if (!isPlainObject(value)) return mismatch();
        const [, attributeTypes, optional = []] = type;
        for (const [key, attributeType] of Object.entries(attributeTypes)) {
          if (key in value) this.checkValue(value[key], attributeType, joinAddress(address, key));
          // Terraform's JSON syntax has no defaults for object attributes: every key must be written out.
          else if (!optional.includes(key))
            this.report(address, `missing object attribute "${key}" (set it to null to leave it unset)`);
        }
        for (const key of Object.keys(value)) {
          if (own(attributeTypes, key) === undefined) this.report(address, `unknown attribute "${key}"`);
        }
        return;
      }
    }
  }
}

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

function isPlainObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function own<T>(record: Readonly<Record<string, T>>, key: string): T | undefined {
  return Object.prototype.hasOwnProperty.call(record, key) ? record[key] : undefined;
}

/** True for strings holding a `${...}` interpolation or `%{...}` directive (`$${` / `%%{` are escapes). */
export function isExpression(value: unknown): boolean {
  if (typeof value !== "string") return false;
  for (let i = 0; i < value.length - 1; i++) {
    const c = value[i];
    if ((c === "$" || c === "%") && value[i + 1] === c && value[i + 2] === "{") {
      i += 2;
    } else if ((c === "$" || c === "%") && value[i + 1] === "{") {
      return true;
    }
  }
  return false;
}

const NUMBER_LITERAL = /^-?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

function primitiveConverts(value: unknown, type: CtyPrimitive): boolean {
  switch (type) {
    case "dynamic":
      return true;
    case "string":
      return typeof value === "string" || typeof value === "number" || typeof value === "boolean";
    case "number":
      return typeof value === "number" || (typeof value === "string" && NUMBER_LITERAL.test(value));
    case "bool":
      return typeof value === "boolean" || value === "true" || value === "false";
  }
}

function typeName(type: CtyType): string {
  if (typeof type === "string") return type === "dynamic" ? "any" : type;
  switch (type[0]) {
    case "list":
    case "set":
    case "map":
      return `${type[0]}(${typeName(type[1])})`;
    case "object":
      return "object";
    case "tuple":
      return "tuple";
  }
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  switch (typeof value) {
    case "string":
      return `string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 37)}...` : value)}`;
    case "number":
    case "boolean":
      return `${typeof value === "boolean" ? "bool" : "number"} ${String(value)}`;
    case "object":
      return "object";
    default:
      return typeof value;
  }
}

function joinAddress(parent: string, key: string): string {
  return /^[A-Za-z_][A-Za-z0-9_-]*$/.test(key) ? `${parent}.${key}` : `${parent}[${JSON.stringify(key)}]`;
}
