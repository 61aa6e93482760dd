import { fuzzPart } from "./support/fuzz";

/** Fuzz, part 2 of 2: support/fuzz.ts (5 000 generated specs; validation, synthesis, output checks). */
fuzzPart(2);
