// Resumable data order: each epoch is a seeded shuffle of the example indices derived from
// (seed, epoch) alone, so the whole sampler state is three numbers a checkpoint can hold.
import { Rng } from "../nn/init.ts";

export interface SamplerState {
  seed: number;
  epoch: number;
  /** Index into the epoch's order of the next example. */
  position: number;
}

export class EpochSampler {
  #order: number[] = [];
  #orderEpoch = -1;

  /** `size` examples in batches of `batch`; a last partial batch is dropped each epoch. */
  constructor(readonly size: number, readonly batch: number, public state: SamplerState) {
    if (!(batch >= 1 && batch <= size)) {
      throw new Error(`batch size ${batch} needs 1..${size} examples`);
    }
  }

  /** Full batches per epoch. */
  get batchesPerEpoch(): number {
    return Math.floor(this.size / this.batch);
  }

  /** The example indices of the next batch; moves to the next epoch when this one is used. */
  next(): number[] {
    if (this.state.position + this.batch > this.size) {
      this.state = { ...this.state, epoch: this.state.epoch + 1, position: 0 };
    }
    const order = this.#orderOf(this.state.epoch);
    const out = order.slice(this.state.position, this.state.position + this.batch);
    this.state = { ...this.state, position: this.state.position + this.batch };
    return out;
  }

  #orderOf(epoch: number): number[] {
    if (epoch !== this.#orderEpoch) {
      // Mixing the epoch into the seed keeps epochs independent of how far others were read.
      const rng = new Rng((this.state.seed ^ Math.imul(epoch + 1, 0x9e3779b1)) >>> 0);
      const order = Array.from({ length: this.size }, (_, i) => i);
      for (let i = order.length - 1; i > 0; i--) {
        const j = rng.int(i + 1);
        [order[i], order[j]] = [order[j], order[i]];
      }
      this.#order = order;
      this.#orderEpoch = epoch;
    }
    return this.#order;
  }
}
