// --allow-nonfinite, shared by the commands that only read models (encode, eval, predict,
// probe lama, model convert): load weights holding NaN/Inf with a warning instead of refusing
// them. Training commands have no such flag: they always refuse non-finite weights.
import type { OptionSpec, Values } from "./options.ts";

export const allowNonFiniteFlag: Record<"allow-nonfinite", OptionSpec> = {
  "allow-nonfinite": {
    type: "boolean",
    help: "load weights that hold NaN/Inf values, with a warning (default: refuse them)",
  },
};

/** The flag's value, as the load functions' `allowNonFinite` option. */
export const allowNonFinite = (values: Values): boolean => values["allow-nonfinite"] === true;
