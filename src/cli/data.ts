// kadapter data convert: the released K-Adapter JSON files and CoNLL-U treebanks to the
// documented Arrow schemas, which training reads batch by batch.
import { convert, type Format, FORMATS } from "../formats/convert/convert.ts";
import {
  type Command,
  overwriteFlag,
  refuseOverwrite,
  requiredOption,
  UsageError,
} from "./options.ts";

export const dataConvert: Command = {
  spec: {
    name: "data convert",
    summary: "convert T-REx-rc, CoNLL-U, find-head, LAMA, task data or plain text to Arrow",
    options: {
      format: {
        type: "string",
        arg: "NAME",
        help: "trex-rc-json (-> trex-rc schema), conllu or find-head-json (-> dependency), " +
          "text (-> text), lama-trex, lama-google-re or lama-masked (-> lama), " +
          "entity-typing-json (OpenEntity/FIGER -> entity-typing), tacred-json (-> relation), " +
          "cosmosqa-jsonl (-> multiple-choice), searchqa-json (SearchQA/Quasar-T -> span-qa)",
      },
      input: {
        type: "string",
        arg: "PATH",
        help: "the source file (LAMA: or a folder of .jsonl)",
        aliases: ["in"],
      },
      out: { type: "string", arg: "FILE", help: "the Arrow IPC file to write (.arrow)" },
      ...overwriteFlag,
      relations: {
        type: "string",
        arg: "FILE",
        help: "LAMA relations.jsonl with the templates (lama-trex, lama-google-re)",
      },
      source: {
        type: "string",
        arg: "NAME",
        help: "the lama rows' source (default: trex, google-re or conceptnet by format)",
      },
      "skip-bad": {
        type: "boolean",
        default: false,
        help: "leave bad rows out and print their count per reason (default: stop at the first)",
      },
    },
    details:
      "JSON input is a JSON array or JSON lines. find-head JSON (the released lin-adapter data): " +
      '`sent`, `tokens` as {"<i>": {start, end}} character spans of it, `pairs` ' +
      "{dependent_index, governor_index}, 1-based, 0 = root. CoNLL-U: FORM and HEAD of each " +
      "word; multiword ranges (1-2) and empty nodes (1.1) are skipped. The output is written " +
      "to a temporary file and renamed into place. text: one row per non-blank line. LAMA: " +
      "lama-trex reads per-relation jsonl (sub_label, obj_label, predicate_id; or the world's " +
      "subject, relation, object), lama-google-re Google-RE jsonl (pred, judgments); both fill " +
      "the relation's template ([X] subject, [Y] -> [MASK]) and drop duplicate (relation, " +
      "subject, object) facts, Google-RE also facts with more 'no' than 'yes' judgments. " +
      "lama-masked (ConceptNet, SQuAD: --source squad) gives a row per masked sentence. " +
      "entity-typing-json: sent (or text), start, end (character offsets, end exclusive), " +
      "labels. tacred-json: token, subj/obj_start/_end (inclusive), relation. cosmosqa-jsonl: " +
      "context, question, answer0..answer3, label (integer or digit string). searchqa-json: " +
      "question, answers or answer (string or list), paragraphs from paragraphs, " +
      "search_results, snippets or contexts (strings, {snippet}/{text} objects or [score, " +
      "text] pairs; null or blank ones left out). A task record without its label (labels, " +
      "relation, label, answers) is unlabelled data for predict, stored as labels [], " +
      'relation "", label -1 or answers [] (data/README.md).',
  },
  async run(values) {
    const format = requiredOption(values, "format");
    if (!Object.hasOwn(FORMATS, format)) {
      throw new UsageError(`--format must be one of ${Object.keys(FORMATS).join(", ")}`);
    }
    const input = requiredOption(values, "input"), out = requiredOption(values, "out");
    const relations = values.relations as string | undefined;
    if (FORMATS[format].needsRelations && relations === undefined) {
      throw new UsageError(`--format ${format} needs --relations FILE (relations.jsonl)`);
    }
    await refuseOverwrite(values, [out], `--out ${out}`);
    const { rows, skipped } = await convert(format as Format, input, out, {
      skipBad: values["skip-bad"] === true,
      relations,
      source: values.source as string | undefined,
    });
    console.log(`wrote ${rows} rows (${FORMATS[format].schema} schema) to ${out}`);
    for (const [reason, n] of Object.entries(skipped)) console.log(`skipped ${n}: ${reason}`);
    return 0;
  },
};
