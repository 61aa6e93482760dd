import { CtyType, CtyValue, isObject, Unknown } from "./cty";

/** The shapes of `terraform providers schema -json`, as far as the simulator reads them. */
export interface SchemaAttribute {
  readonly type?: CtyType;
  readonly nested_type?: NestedType;
  readonly required?: boolean;
  readonly optional?: boolean;
  readonly computed?: boolean;
  readonly sensitive?: boolean;
  readonly deprecated?: boolean;
  readonly write_only?: boolean;
}

export interface NestedType {
  readonly attributes: Readonly<Record<string, SchemaAttribute>>;
  readonly nesting_mode: "single" | "list" | "set" | "map";
}

export interface SchemaBlockType {
  readonly nesting_mode: "single" | "list" | "set" | "map" | "group";
  readonly block: SchemaBlock;
  readonly min_items?: number;
  readonly max_items?: number;
}

export interface SchemaBlock {
  readonly attributes?: Readonly<Record<string, SchemaAttribute>>;
  readonly block_types?: Readonly<Record<string, SchemaBlockType>>;
  readonly deprecated?: boolean;
}

export interface TypeSchema {
  readonly version: number;
  readonly block: SchemaBlock;
}

export interface ProviderSchemaJson {
  readonly provider: TypeSchema;
  readonly resource_schemas?: Readonly<Record<string, TypeSchema>>;
  readonly data_source_schemas?: Readonly<Record<string, TypeSchema>>;
  readonly ephemeral_resource_schemas?: Readonly<Record<string, TypeSchema>>;
}

function wrap(mode: string, element: CtyType): CtyType {
  switch (mode) {
    case "list":
      return ["list", element];
    case "set":
      return ["set", element];
    case "map":
      return ["map", element];
    default:
      return element;
  }
}

export function attributeType(a: SchemaAttribute): CtyType {
  if (a.type) return a.type;
  if (!a.nested_type) throw new Error("attribute has neither type nor nested_type");
  const attrs = a.nested_type.attributes;
  const obj: CtyType = ["object", Object.fromEntries(Object.keys(attrs).map((k) => [k, attributeType(attrs[k])]))];
  return wrap(a.nested_type.nesting_mode, obj);
}

/** The object type terraform uses for a block's values. */
export function blockType(b: SchemaBlock): CtyType {
  const out: Record<string, CtyType> = {};
  for (const [k, a] of Object.entries(b.attributes ?? {})) out[k] = attributeType(a);
  for (const [k, t] of Object.entries(b.block_types ?? {})) out[k] = wrap(t.nesting_mode, blockType(t.block));
  return ["object", out];
}

const BLOCK_NESTING = { single: "SINGLE", list: "LIST", set: "SET", map: "MAP", group: "GROUP" } as const;

function protoAttribute(name: string, a: SchemaAttribute): Record<string, unknown> {
  const out: Record<string, unknown> = {
    name,
    required: !!a.required,
    optional: !!a.optional,
    computed: !!a.computed,
    sensitive: !!a.sensitive,
    deprecated: !!a.deprecated,
    write_only: !!a.write_only,
  };
  if (a.nested_type) {
    out.nested_type = {
      attributes: Object.keys(a.nested_type.attributes)
        .sort()
        .map((k) => protoAttribute(k, a.nested_type!.attributes[k])),
      nesting: BLOCK_NESTING[a.nested_type.nesting_mode],
    };
  } else {
    out.type = Buffer.from(JSON.stringify(a.type));
  }
  return out;
}

function protoBlock(b: SchemaBlock): Record<string, unknown> {
  return {
    version: 0,
    deprecated: !!b.deprecated,
    attributes: Object.keys(b.attributes ?? {})
      .sort()
      .map((k) => protoAttribute(k, b.attributes![k])),
    block_types: Object.keys(b.block_types ?? {})
      .sort()
      .map((k) => {
        const t = b.block_types![k];
        return {
          type_name: k,
          block: protoBlock(t.block),
          nesting: BLOCK_NESTING[t.nesting_mode],
          min_items: t.min_items ?? 0,
          max_items: t.max_items ?? 0,
        };
      }),
  };
}

/** `tfplugin6.Schema` for one type schema from the JSON form. */
export function protoSchema(s: TypeSchema): Record<string, unknown> {
  return { version: s.version ?? 0, block: protoBlock(s.block) };
}

function forEachElement(mode: string, value: CtyValue, fn: (v: CtyValue) => CtyValue): CtyValue {
  if (value === null || value instanceof Unknown) return value;
  if (mode === "single" || mode === "group") return fn(value);
  if ((mode === "list" || mode === "set") && Array.isArray(value)) return value.map(fn);
  if (mode === "map" && isObject(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, fn(v)]));
  return value;
}

function markAttributes(attrs: Readonly<Record<string, SchemaAttribute>>, obj: { [k: string]: CtyValue }): void {
  for (const [k, a] of Object.entries(attrs)) {
    if (a.computed && obj[k] === null) obj[k] = new Unknown();
    else if (a.nested_type && obj[k] !== null) {
      obj[k] = forEachElement(a.nested_type.nesting_mode, obj[k], (v) => markComputed({ attributes: a.nested_type!.attributes }, v));
    }
  }
}

/**
 * What a provider plans: the proposed new state (config merged with prior state by terraform) with
 * every computed attribute that is still null turned unknown, at every nesting level.
 */
export function markComputed(b: SchemaBlock, value: CtyValue): CtyValue {
  if (!isObject(value)) return value;
  const obj = { ...value };
  markAttributes(b.attributes ?? {}, obj);
  for (const [k, t] of Object.entries(b.block_types ?? {})) {
    obj[k] = forEachElement(t.nesting_mode, obj[k], (v) => markComputed(t.block, v));
  }
  return obj;
}
