// kadapter model convert: an adapter folder the released K-Adapter code saved (config.json +
// pytorch_model.bin) to kadapter's adapter folder (adapter_config.json, adapter.safetensors)
// with its pretraining head (head_config.json, model_head.safetensors).
import { initGpu } from "../gpu/device.ts";
import { ADAPTER_CONFIG, loadReleased, saveAdapterFolder } from "../models/adapter_folder.ts";
import { isReleasedAdapterFolder } from "../models/released_adapter.ts";
import type { ReleasedHead } from "../models/released_head.ts";
import { TREX_RELATIONS } from "../models/trex_relations.ts";
import { checkOut } from "./model.ts";
import { type Command, requiredOption, UsageError } from "./options.ts";
import { allowNonFinite, allowNonFiniteFlag } from "./nonfinite_flag.ts";

export const modelConvert: Command = {
  spec: {
    name: "model convert",
    summary: "turn a released K-Adapter adapter checkpoint into a kadapter adapter folder",
    options: {
      adapter: {
        type: "string",
        arg: "DIR",
        help: "the released code's output folder (config.json, pytorch_model.bin)",
      },
      out: { type: "string", arg: "DIR", help: "the adapter folder to create (absent or empty)" },
      name: {
        type: "string",
        arg: "NAME",
        help: "the adapter's name (default: fac or lin; adapter without a head)",
      },
      ...allowNonFiniteFlag,
    },
    details: "The adapter's sizes are read from its tensors; adapter_list is the released " +
      "scripts' (0,11,22 for roberta-large), with 12 inner heads, adapter_skip_layers 0 and " +
      "the released tokenization. The pytorch_model.bin is read without running any code " +
      "from it. The pretraining head (com_dense, dense, out_proj, and lin's self_attention) " +
      "is converted too, as head_config.json and model_head.safetensors: fac's labels are the " +
      "released code's 410 T-REx relation ids when out_proj has 410 rows (otherwise unnamed), " +
      "lin's max_length is out_proj's rows. A checkpoint without head tensors converts as an " +
      "adapter only. `--adapters NAME=DIR` also loads a released folder as it is.",
  },
  async run(values) {
    const dir = requiredOption(values, "adapter"), out = requiredOption(values, "out");
    if (!(await isReleasedAdapterFolder(dir, ADAPTER_CONFIG))) {
      throw new UsageError(
        `--adapter ${dir} is not a released checkpoint folder (it needs pytorch_model.bin ` +
          `and no ${ADAPTER_CONFIG})`,
      );
    }
    await checkOut(out);
    await initGpu();
    const { adapter, config, task, base, head } = await loadReleased(dir, undefined, {
      head: true,
      allowNonFinite: allowNonFinite(values),
    });
    try {
      const name = typeof values.name === "string"
        ? values.name
        : task === "unknown"
        ? "adapter"
        : task;
      await saveAdapterFolder(
        out,
        adapter,
        { name, task, base, tokenization: "original" },
        head ?? undefined,
      );
      console.log(
        `${out}: ${task} adapter "${name}", ${config.adapterList.length} adapter layers ` +
          `at hidden states ${config.adapterList}, adapter_size ${config.adapterHidden}, ` +
          `${config.layers} inner layers, for a ${base.model_type} encoder of hidden ` +
          `size ${base.hidden_size} and ${base.num_hidden_layers} layers`,
      );
      console.log(headLine(out, head));
    } finally {
      head?.module.dispose();
      adapter.dispose();
    }
    return 0;
  },
};

function headLine(out: string, head: ReleasedHead | null): string {
  if (!head) {
    return `${out}: note: the checkpoint holds no pretraining head tensors; adapter only, ` +
      'of unknown kind (task "unknown"), so it is checked as neither fac= nor lin=';
  }
  const m = head.meta, n = head.module.parameterCount().toLocaleString("en-US");
  const what = m.task === "lin"
    ? `max_length ${m.maxLength} (out_proj rows)`
    : m.labels
    ? `${m.config.labels} relations, labelled as the released code's T-REx relation list`
    : `${m.config.labels} relations, unlabelled: out_proj's ${m.config.labels} rows are not ` +
      `the released code's ${TREX_RELATIONS.length} T-REx relations, so labels is null`;
  return `${out}: ${m.task} pretraining head (${n} parameters): ${what}; head_config.json, ` +
    `model_head.safetensors`;
}
