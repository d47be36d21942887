// kadapter model convert: an adapter folder the released K-Adapter code saved (config.json +
// pytorch_model.bin) to kadapter's adapter folder (adapter_config.json, adapter.safetensors).
import { initGpu } from "../gpu/device.ts";
import { ADAPTER_CONFIG, loadAdapter, saveAdapterFolder } from "../models/adapter_folder.ts";
import { isReleasedAdapterFolder } from "../models/released_adapter.ts";
import { checkOut } from "./model.ts";
import { type Command, requiredOption, UsageError } from "./options.ts";

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
      name: { type: "string", arg: "NAME", help: "the adapter's name (default: fac or lin)" },
    },
    details: "The adapter's sizes are read from its tensors; adapter_list is the released " +
      "scripts' (0,11,22 for roberta-large), with 12 inner heads, adapter_skip_layers 0 and " +
      "the released tokenization. The pytorch_model.bin is read without running any code " +
      "from it. The pretraining head (com_dense, dense, out_proj) is not converted: " +
      "downstream tasks drop it. `--adapters NAME=DIR` also loads a released folder as it is.",
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
    const { adapter, meta, config } = await loadAdapter(dir);
    try {
      const name = typeof values.name === "string" ? values.name : meta.task;
      await saveAdapterFolder(out, adapter, { ...meta, name });
      console.log(
        `${out}: ${meta.task} adapter "${name}", ${config.adapterList.length} adapter layers ` +
          `at hidden states ${config.adapterList}, adapter_size ${config.adapterHidden}, ` +
          `${config.layers} inner layers, for a ${meta.base.model_type} encoder of hidden ` +
          `size ${meta.base.hidden_size} and ${meta.base.num_hidden_layers} layers`,
      );
    } finally {
      adapter.dispose();
    }
    return 0;
  },
};
