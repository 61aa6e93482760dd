/**
 * JSON with object keys sorted at every level and two-space indent: the same bytes on every machine.
 * Each object is sorted as it is written (a shallow copy at a time), never as a whole sorted copy of
 * the tree: a module of thousands of VMs would otherwise exist twice while it is written.
 */
export function stableJson(value: unknown): string {
  return JSON.stringify(value, sortedKeys, 2);
}

function sortedKeys(this: unknown, _key: string, value: unknown): unknown {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return value;
  const obj = value as Record<string, unknown>;
  const sorted: Record<string, unknown> = {};
  for (const k of Object.keys(obj).sort()) if (obj[k] !== undefined) sorted[k] = obj[k];
  return sorted;
}
