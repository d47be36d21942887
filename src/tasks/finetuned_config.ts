// The checks of a fine-tuned folder's finetune_config.json before anything is built from it:
// every field's type and range, adapter names that stay inside the folder, and head sizes
// that bound what gets allocated. A damaged file is refused with each problem named.
import { RunError } from "../train/run.ts";
import { TOKENIZATIONS } from "../formats/tokenization.ts";
import { FieldProblems, intIn, isObject } from "../formats/json.ts";

/** An adapter's folder name under adapters/: no separators, no `..`. */
const ADAPTER_NAME = /^[A-Za-z0-9_.-]+$/;

/** Throws a RunError naming `path` and every problem of the parsed config `c`. */
export function checkFinetuneConfig(path: string, c: unknown): void {
  const { list: out, need } = new FieldProblems();
  if (!isObject(c)) throw new RunError(`${path}: must be a JSON object`);
  need(typeof c.task === "string", "task", "a task name", c.task);
  need(c.settings === undefined || isObject(c.settings), "settings", "an object", c.settings);
  const labels = c.labels;
  need(
    Array.isArray(labels) && labels.length > 0 && labels.every((l) => typeof l === "string"),
    "labels",
    "a non-empty list of strings",
    labels,
  );
  need(c.fusion === "concat" || c.fusion === "add", "fusion", "concat or add", c.fusion);
  need(Array.isArray(c.adapters), "adapters", "a list", c.adapters);
  if (Array.isArray(c.adapters)) {
    c.adapters.forEach((a, i) => {
      const ok = isObject(a) && typeof a.name === "string" && ADAPTER_NAME.test(a.name) &&
        a.name !== "." && a.name !== ".." && typeof a.untrained === "boolean";
      need(ok, `adapters[${i}]`, "{name (letters, digits, _ . -), untrained, config}", a);
    });
  }
  for (const k of ["freezeEncoder", "trainAdapters"]) {
    need(typeof c[k] === "boolean", k, "true or false", c[k]);
  }
  need(intIn(c.maxLength, 2, 65536), "maxLength", "an integer in [2, 65536]", c.maxLength);
  need(
    c.tokenization === undefined || TOKENIZATIONS.includes(c.tokenization as never),
    "tokenization",
    TOKENIZATIONS.join(" or "),
    c.tokenization,
  );
  const h = c.head;
  need(isObject(h), "head", "an object {hidden, labels, dropout}", h);
  if (isObject(h)) {
    need(intIn(h.hidden, 1, 65536), "head.hidden", "an integer in [1, 65536]", h.hidden);
    need(intIn(h.labels, 1, 1_000_000), "head.labels", "an integer in [1, 1000000]", h.labels);
    if (Array.isArray(labels) && intIn(h.labels, 1, 1_000_000) && h.labels !== labels.length) {
      out.push(`head.labels is ${h.labels}, but labels lists ${labels.length}`);
    }
    const d = h.dropout;
    need(typeof d === "number" && d >= 0 && d < 1, "head.dropout", "a number in [0, 1)", d);
  }
  need(c.training === undefined || isObject(c.training), "training", "an object", c.training);
  if (out.length) {
    throw new RunError(
      `${path} is damaged: ${out.join("; ")}. Use the run's other folder (model/ or best/) ` +
        `or fine-tune again`,
    );
  }
}
