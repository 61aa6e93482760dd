/**
 * Text in a POSIX shell script. Every value from the spec enters a generated script through
 * {@link shellQuote}: a single-quoted word, in which the shell expands nothing (POSIX "Single-Quotes";
 * a single quote itself is written as `'\''`).
 */
export function shellQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}
