// K-Adapter's final feature of a token, in parts: the frozen encoder's last hidden state, then
// each adapter's output, in the order the adapters are given. The MLM layer of LAMA probing
// reads their concatenation cat(last, adapter_1, ..., adapter_k).
import type { AdapterModel } from "./kadapter.ts";
import type { FrozenRoberta } from "./roberta_frozen.ts";
import { onReleasedLayout } from "./released_layout.ts";
import { type EncoderInput, maskTensor } from "./roberta_inputs.ts";
import { cast, noGrad, type Tensor } from "../tensor/mod.ts";

/**
 * The final feature's parts: the frozen encoder run once (keeping the union of the adapters'
 * adapter_list states and the last one), then each adapter on its states; all without tape,
 * the adapters in eval mode. features() returns [last, adapter_1, ..., adapter_k], each
 * [batch, seq, H] f32.
 */
export class AdapterFeatures {
  readonly #keep: number[];

  /** `padTo`: the padded length a mask-"all" adapter sees (released_layout.ts). */
  constructor(
    readonly encoder: FrozenRoberta,
    readonly adapters: readonly AdapterModel[],
    readonly padTo: number,
  ) {
    const L = encoder.dims.layers, H = encoder.dims.hidden;
    for (const a of adapters) {
      if (a.config.hidden !== H) {
        throw new Error(`an adapter reads hidden size ${a.config.hidden}, the encoder has ${H}`);
      }
      const bad = a.config.adapterList.find((i) => i > L);
      if (bad !== undefined) {
        throw new Error(`adapter_list entry ${bad} is past the encoder's last layer (${L})`);
      }
      a.eval();
    }
    this.#keep = [...new Set([...adapters.flatMap((a) => a.config.adapterList), L])].sort((a, b) =>
      a - b
    );
  }

  get parts(): number {
    return 1 + this.adapters.length;
  }

  features(input: EncoderInput): Tensor[] {
    const layout = { length: this.padTo, padId: this.encoder.dims.padId };
    return noGrad(() =>
      onReleasedLayout(input, this.adapters, layout, (x) => {
        const f32 = (t: Tensor) => (t.dtype === "f32" ? t : cast(t, "f32"));
        const states = this.encoder.hiddenStates(x, { keep: this.#keep }).map(f32);
        const at = (i: number) => states[this.#keep.indexOf(i)];
        const mask = maskTensor(x);
        const outs = this.adapters.map((a) => a.forward(a.config.adapterList.map(at), mask));
        return [at(this.encoder.dims.layers), ...outs];
      })
    );
  }
}
