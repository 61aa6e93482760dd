import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { parse, YAMLParseError } from "yaml";
import { LabSpec } from "../input/lab-spec";
import { SpecError } from "../input/spec-error";
import { validateLabSpec } from "./validate";

/** The largest spec file read: far beyond any lab (a 2 000-worker spec is about 150 KiB). */
export const MAX_SPEC_BYTES = 16 * 1024 * 1024;

function fileProblem(file: string, rule: string, hint: string): SpecError {
  return new SpecError([{ path: "(file)", value: file, message: `${rule} (${hint})` }]);
}

/** The file's text: a regular file of at most {@link MAX_SPEC_BYTES}, read without following it past its size. */
function readSpecFile(file: string): string {
  let fd: number;
  try {
    fd = openSync(file, "r");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? "unreadable";
    throw fileProblem(file, `cannot be read: ${code}`, "check the --spec path");
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw fileProblem(file, "is not a regular file", "pass a YAML or JSON file");
    if (st.size > MAX_SPEC_BYTES) throw fileProblem(file, `is larger than ${MAX_SPEC_BYTES / 1024 / 1024} MiB`, "a lab spec is a few kilobytes");
    const buf = Buffer.alloc(st.size);
    let read = 0;
    while (read < st.size) {
      const n = readSync(fd, buf, read, st.size - read, read);
      if (n === 0) break;
      read += n;
    }
    return buf.subarray(0, read).toString("utf8");
  } finally {
    closeSync(fd);
  }
}

/**
 * Reads a YAML (or JSON) spec file and validates it. YAML 1.2 with merge keys (`<<: *base`) and at
 * most 100 alias expansions (the yaml package's guard against alias bombs). Unreadable files, files
 * that are not regular files or too large, and YAML syntax errors become SpecErrors too.
 */
export function loadLabSpec(file: string): LabSpec {
  const text = readSpecFile(file);
  let data: unknown;
  try {
    data = parse(text, { prettyErrors: true, merge: true });
  } catch (e) {
    const msg = e instanceof YAMLParseError ? e.message.split("\n")[0] : String(e);
    throw fileProblem(file, `is not valid YAML: ${msg}`, "fix the syntax at the line shown");
  }
  return validateLabSpec(data);
}
