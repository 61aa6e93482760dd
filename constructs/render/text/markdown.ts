/**
 * The Markdown boundary: text that lands in a table cell of RULES.md or a stack README stays one cell
 * of one row. Line breaks become spaces, `|` and `\` are escaped (GFM tables), and `<`, `>`, `&`
 * become entities so no text turns into HTML.
 */
export function markdownCell(text: string): string {
  return text
    .replace(/\r\n|\r|\n|\u2028|\u2029/g, " ")
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/\\/g, "\\\\")
    .replace(/\|/g, "\\|");
}

/** A table row of cells (each through {@link markdownCell}), with the outer pipes GFM allows to omit. */
export function markdownRow(cells: readonly (string | number)[]): string {
  return cells.map((c) => markdownCell(String(c))).join(" | ");
}
